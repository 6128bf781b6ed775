#!/usr/bin/env python
"""Print "yes" when a shipped model (DIR with config.json + training.json) finished training with the
recipe a YAML config describes now (every key of the YAML, its `extends:` chain resolved, has the same
value in the model's recorded training config) and, where it recorded the hash of the weights it started
from, its `init_from` still holds those weights; else "no". train_reference.sh uses it to skip
up-to-date variants and to retrain those shipped with an older recipe or from an older stem.

    shipped_is_current.py MODEL_DIR CONFIG        # a finished export
    shipped_is_current.py --run RUN_DIR CONFIG    # a started run (its config.yaml): may it be resumed?
"""

import json
import sys
from pathlib import Path

from interpface.errors import ConfigError
from training.config import read_config

ROOT = Path(__file__).resolve().parent.parent  # the checkout, where init_from paths start


def _same(recorded: dict, wanted: dict) -> bool:
    return all(
        recorded.get(k) == v or (isinstance(v, (int, float)) and recorded.get(k) == float(v)) for k, v in wanted.items()
    )


def _weights_sha256(checkpoint: Path) -> str | None:
    """The sha256 a checkpoint folder's config.json records for its weights (None when unreadable)."""
    try:
        return json.loads((checkpoint / "config.json").read_text()).get("sha256")
    except (OSError, ValueError):
        return None


def _same_start(init_from: str | None, recorded_sha256: str | None) -> bool:
    """False when the weights a run started from (by hash) are no longer what init_from holds (a path
    relative to the checkout); True when there is no init_from, or no recorded hash to compare (a run
    from before runs recorded it: its start is unknown, and taken as current)."""
    if not init_from or not recorded_sha256:
        return True
    path = Path(init_from) if Path(init_from).is_absolute() else ROOT / init_from
    return _weights_sha256(path) == recorded_sha256


def run_matches(run_dir: str, config: str) -> str:
    """ "yes" when the run folder's saved config.yaml has every key of CONFIG's (resolved) values and its
    latest checkpoint started from what init_from holds now."""
    try:
        recorded = read_config(Path(run_dir) / "config.yaml")
        if not _same(recorded, read_config(config)):
            return "no"
        started = None  # a run with no checkpoint yet restarts from init_from as it is now
        if (Path(run_dir) / "latest.json").is_file():
            latest = Path(run_dir) / json.loads((Path(run_dir) / "latest.json").read_text())["dir"]
            started = json.loads((latest / "config.json").read_text()).get("init_sha256")
    except (OSError, ValueError, KeyError, ConfigError):
        return "no"
    return "yes" if _same_start(recorded.get("init_from"), started) else "no"


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
    same_start = _same_start(training.get("init_from"), training.get("init_sha256"))
    return "yes" if _same(recorded, wanted) and same_start else "no"


if __name__ == "__main__":
    print(run_matches(*sys.argv[2:4]) if sys.argv[1] == "--run" else main(sys.argv[1], sys.argv[2]))
