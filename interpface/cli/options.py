"""Options shared by several commands."""

from __future__ import annotations


def apply_model_spec(args) -> None:
    """`--model-spec FILE` -> args.checkpoint = "spec:FILE" (one of the two, not both); kept for the
    option's users: ``--checkpoint spec:FILE`` is the same."""
    from interpface.errors import ConfigError

    spec = getattr(args, "model_spec", None)
    if spec:
        if getattr(args, "checkpoint", None):
            raise ConfigError("give --checkpoint or --model-spec, not both")
        args.checkpoint = f"spec:{spec}"
