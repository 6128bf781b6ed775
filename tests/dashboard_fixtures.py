"""A tiny model zoo for dashboard tests: two tiny-config models named like reference variants, their
precomputed analyses on the test face set, and the environment that points the dashboard at them
(the face set as its dataset, so the pages behave the same with or without the real LFW)."""

from __future__ import annotations

from pathlib import Path

from interpface.models.checkpoint import save_checkpoint
from tests.tiny import tiny_model


def make_tiny_zoo(root: Path) -> Path:
    for i, name in enumerate(("base", "full")):
        net = tiny_model(i, he_init=True)  # input-dependent responses: the pages have something to show
        save_checkpoint(root / name, net, model_config=net.config, extra={"class_names": []})
    return root


FACES = ["Grace_Hopper/Grace_Hopper_0001.jpg", "Wide_Hopper/Wide_Hopper_0001.jpg", "Eileen_Collins/Eileen_Collins_0001.jpg",
         "Long_Hopper/Long_Hopper_0001.jpg", "Grace_Hopper/Grace_Hopper_0002.jpg", "Wide_Hopper/Wide_Hopper_0002.jpg"]


def make_tiny_analyses(zoo: Path, out: Path, faces) -> Path:
    """Precomputed analyses of the tiny zoo's models on six faces of the test face set `faces` (a
    FaceDataset; the dashboard reads them from $INTERPFACE_ANALYSES)."""
    import numpy as np

    from interpface.analysis import run_analysis, save_precomputed
    from interpface.models.checkpoint import load_model
    from interpface.faces.pipeline import FacePipeline

    pipe = FacePipeline()
    prepared = [pipe.prepare(faces.path(rel)) for rel in FACES]
    crops = np.stack([f.crop for f in prepared])
    landmarks = np.stack([f.landmarks for f in prepared])
    for name in ("base", "full"):
        model, _ = load_model(zoo / name)
        result = run_analysis(model, crops, landmarks, regions=("eyes", "nose", "mouth"), bootstrap=0,
                              relpaths=list(FACES))
        save_precomputed(result, name, out, crops=crops)
    return out


def dashboard_env(zoo: Path, analyses: Path, faces_root: Path, cache: Path) -> dict[str, str]:
    """Environment for the dashboard under test: the tiny zoo, its analyses, the face set as dataset."""
    return {"INTERPFACE_MODELS": str(zoo), "INTERPFACE_ANALYSES": str(analyses), "INTERPFACE_DATA": str(faces_root),
            "INTERPFACE_CACHE": str(cache)}
