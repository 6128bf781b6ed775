"""`python -m training ...` / `torchrun --nproc_per_node=N -m training ...`: same flags as `interpface train`."""

import argparse
import sys

from interpface.errors import InterpfaceError

from .cli import add_train_arguments, cmd_train

parser = argparse.ArgumentParser(prog="python -m training", description="Train an interpretable face model.")
add_train_arguments(parser)
args = parser.parse_args()
try:
    raise SystemExit(cmd_train(args))
except InterpfaceError as exc:
    print(f"training: error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
