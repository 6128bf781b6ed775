#!/usr/bin/env python
"""Print "yes" when a shipped model (DIR with config.json + training.json) finished training with the
recipe a YAML config describes now (every key of the YAML, its `extends:` chain resolved, has the same
value in the model's recorded training config), else "no". train_reference.sh uses it to skip up-to-date variants and to retrain
those shipped with an older recipe."""

import json
import sys
from pathlib import Path

from interpface.errors import ConfigError
from training.config import read_config


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
    same = all(
        recorded.get(k) == v or (isinstance(v, (int, float)) and recorded.get(k) == float(v)) for k, v in wanted.items()
    )
    return "yes" if same else "no"


if __name__ == "__main__":
    print(main(sys.argv[1], sys.argv[2]))
