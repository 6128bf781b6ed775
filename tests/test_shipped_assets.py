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


def _shipped_is_current(model_dir: Path, config: Path) -> str:
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    from shipped_is_current import main as shipped_is_current

    return shipped_is_current(str(model_dir), str(config))


def test_the_patient_stem_ships_with_the_recipe_its_config_describes():
    """assets/models/stem_patient, the one starting point of every variant (committed so that the variants
    can be trained in a later session), loads with its distillation head, finished training with exactly
    the recipe of training/configs/stem_patient.yaml, and is not a dashboard model."""
    model, _ = load_model(assets_dir() / "models" / "stem_patient")
    assert model.teacher_projection is not None and model.teacher_projection.weight.shape == (128, 320)
    assert (
        _shipped_is_current(assets_dir() / "models" / "stem_patient", ROOT / "training/configs/stem_patient.yaml")
        == "yes"
    )
    assert "stem_patient" not in available_models()
    training = json.loads((assets_dir() / "models" / "stem_patient" / "training.json").read_text())
    assert training["command"] == "interpface train --config training/configs/stem_patient.yaml"


@pytest.mark.parametrize("variant", REFERENCE_VARIANTS)
def test_a_shipped_variant_is_trained_with_its_config(variant):
    """Every shipped variant finished training with exactly the recipe training/configs/patient/<variant>.yaml
    describes now, from the committed patient stem."""
    config = ROOT / "training" / "configs" / "patient" / f"{variant}.yaml"
    assert _shipped_is_current(assets_dir() / "models" / variant, config) == "yes"
    training = json.loads((assets_dir() / "models" / variant / "training.json").read_text())
    assert training["init_from"] == "assets/models/stem_patient"
    assert training["command"] == f"interpface train --config training/configs/patient/{variant}.yaml"


def test_every_config_starts_from_scratch_or_a_tracked_export():
    """No config of the recipe points at an untracked path: the stem starts from scratch and every variant
    (the t ablation's too) from the committed patient stem."""
    from training.config import read_config

    configs = ROOT / "training" / "configs"
    assert read_config(configs / "stem_patient.yaml").get("init_from") is None
    variants = sorted((configs / "patient").glob("*.yaml"))
    assert {p.stem for p in variants} == {*REFERENCE_VARIANTS, "full_t130", "full_t320"}
    for path in variants:
        assert read_config(path)["init_from"] == "assets/models/stem_patient", path.name


def test_the_docs_show_the_shipped_training_records():
    """docs/reproducing.md's training records are the ones scripts/training_records.py builds from the
    shipped exports' training.json."""
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    from training_records import SHIPPED, records_table

    doc = (ROOT / "docs" / "reproducing.md").read_text()
    between = doc.split("<!-- BEGIN training_records.py -->\n", 1)[1].split("\n<!-- END training_records.py -->", 1)[0]
    assert between == records_table(assets_dir() / "models", SHIPPED)


def test_results_show_the_claims_checked_on_the_shipped_files():
    """docs/results.md's table of targets and claims is the one scripts/claims_table.py builds now."""
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    from claims_table import claims_table

    text = (ROOT / "docs" / "results.md").read_text()
    between = text.split("<!-- BEGIN claims_table.py -->\n", 1)[1].split("\n<!-- END claims_table.py -->", 1)[0]
    assert between == claims_table()


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
