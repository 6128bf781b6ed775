#!/usr/bin/env python
"""Print "yes" when a shipped model (DIR with config.json + training.json) finished training with the
recipe a YAML config describes now (every key of the YAML, its `extends:` chain resolved, has the same
value in the model's recorded training config), else "no". train_reference.sh uses it to skip
up-to-date variants and to retrain those shipped with an older recipe.

    shipped_is_current.py MODEL_DIR CONFIG        # a finished export
    shipped_is_current.py --run RUN_DIR CONFIG    # a started run (its config.yaml): may it be resumed?
"""

import json
import sys
from pathlib import Path

from interpface.errors import ConfigError
from training.config import read_config


def _same(recorded: dict, wanted: dict) -> bool:
    return all(
        recorded.get(k) == v or (isinstance(v, (int, float)) and recorded.get(k) == float(v)) for k, v in wanted.items()
    )


def run_matches(run_dir: str, config: str) -> str:
    """ "yes" when the run folder's saved config.yaml has every key of CONFIG's (resolved) values."""
    try:
        return "yes" if _same(read_config(Path(run_dir) / "config.yaml"), read_config(config)) else "no"
    except ConfigError:
        return "no"


def main(model_dir: str, config: str) -> str:
    d = Path(model_dir)
    try:
        training = json.loads((d / "training.json").read_text())
        recorded = json.loads((d / "config.json").read_text()).get("training") or {}
        wanted = read_config(config)
    except (OSError, ValueError, ConfigError):
        return "no"
    if not training.get("finished"):
        return "no"
    return "yes" if _same(recorded, wanted) else "no"


if __name__ == "__main__":
    print(run_matches(*sys.argv[2:4]) if sys.argv[1] == "--run" else main(sys.argv[1], sys.argv[2]))
