"""The embedded default the dashboard starts on: every shipped reference model loads, has its DevTest
thresholds, and its precomputed analysis belongs to it and carries the filter card's top faces."""

import json
from pathlib import Path

import numpy as np
import pytest

from interpface.analysis import load_precomputed
from interpface.files import assets_dir
from interpface.models.checkpoint import load_model
from interpface.models.zoo import REFERENCE_VARIANTS, available_models

ROOT = Path(__file__).resolve().parent.parent  # the checkout: training/configs, scripts/


@pytest.mark.parametrize("name", REFERENCE_VARIANTS)
def test_a_shipped_model_and_its_analysis(name):
    model, info = load_model(assets_dir() / "models" / name)
    k = model.config.num_filters
    thresholds = json.loads((assets_dir() / "models" / name / "evaluation.json").read_text())["thresholds"]
    assert set(thresholds) == {"0.01", "0.001", "0.0001"}
    assert -1 < thresholds["0.01"] < thresholds["0.001"] < thresholds["0.0001"] < 1
    pre = load_precomputed(name)
    assert pre.n_filters == k and pre.meta["n_images"] == 1000
    assert pre.top is not None and pre.top.index.shape == (k, 4) and pre.top.thumbs.shape[:2] == (k, 4)
    # the top faces are LFW DevTest images, strongest first
    rel = [r for r in pre.top.relpaths.ravel() if r]
    assert rel and all(r.endswith(".jpg") and "/" in r for r in rel)
    v = pre.top.value
    assert (np.diff(v, axis=1)[(pre.top.index[:, 1:] >= 0)] <= 1e-6).all()
    sha = pre.meta.get("checkpoint_sha256")
    assert sha is None or sha == info["sha256"]


def test_the_dlib_port_evaluation_ships():
    """The dashboard's black box carries its DevTest calibration and ROC like our models."""
    d = json.loads((assets_dir() / "peers" / "dlib_port" / "evaluation.json").read_text())
    assert 0.5 < d["thresholds"]["0.01"] < d["thresholds"]["0.001"] < 1
    clean = d["conditions"]["clean"]
    assert clean["accuracy"] > 0.95 and len(clean["roc"]["far"]) == len(clean["roc"]["tar"]) > 10
    assert {"clean", "synthetic", "natural", "part:nose"} <= set(d["conditions"])


def _assert_starting_point(name: str) -> None:
    """assets/models/<name> loads with its distillation head, finished training with exactly the recipe of
    training/configs/<name>.yaml, and is not a dashboard model."""
    import sys

    root = ROOT
    sys.path.insert(0, str(root / "scripts"))
    from shipped_is_current import main as shipped_is_current

    model, _ = load_model(assets_dir() / "models" / name)
    assert model.teacher_projection is not None and model.teacher_projection.weight.shape == (128, 320)
    assert (
        shipped_is_current(str(assets_dir() / "models" / name), str(root / "training" / "configs" / f"{name}.yaml"))
        == "yes"
    )
    assert name not in available_models()


def test_the_stem_ships_with_the_recipe_its_config_describes():
    """assets/models/stem5, the end of the stem -> stem2 -> stem3b -> stem4d -> stem5 restarts, is the one starting
    point of every variant (committed so that variants can be trained in a later session), and every variant
    config starts from it."""
    from training.config import read_config

    _assert_starting_point("stem5")
    for variant in (*REFERENCE_VARIANTS, "full_t130", "full_t320"):
        config = read_config(ROOT / "training" / "configs" / f"{variant}.yaml")
        assert config["init_from"] == "assets/models/stem5", variant


def test_the_second_stem_ships_with_its_recipe():
    """assets/models/stem2, where stem3b.yaml starts (and the previous recipe's variants did)."""
    _assert_starting_point("stem2")


def test_the_readme_shows_the_shipped_numbers():
    """The table of the shipped models in README.md and docs/results.md is the one scripts/readme_table.py builds from their
    evaluation.json files and precomputed analyses (the dlib port's included)."""
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    from readme_table import readme_table

    for doc in ("README.md", "docs/results.md"):
        text = (ROOT / doc).read_text()
        between = text.split("<!-- BEGIN readme_table.py -->\n", 1)[1].split("\n<!-- END readme_table.py -->", 1)[0]
        assert between == readme_table(), doc


def test_the_patient_stem_ships_with_its_recipe():
    """assets/models/stem_patient, the end of stem_patient.yaml's one schedule, where the variants of
    training/configs/patient/ start."""
    _assert_starting_point("stem_patient")
