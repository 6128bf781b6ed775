"""A tiny model zoo for dashboard tests: two tiny-config models named like reference variants."""

from __future__ import annotations

from pathlib import Path

from interpface.checkpoint import save_checkpoint
from tests.tiny import tiny_model


def make_tiny_zoo(root: Path) -> Path:
    for i, name in enumerate(("base", "full")):
        net = tiny_model(i, he_init=True)  # input-dependent responses: the pages have something to show
        save_checkpoint(root / name, net, model_config=net.config, extra={"class_names": []})
    return root


FACES = ["Colin_Powell/Colin_Powell_0001.jpg", "Tony_Blair/Tony_Blair_0001.jpg", "Serena_Williams/Serena_Williams_0001.jpg",
         "Gerhard_Schroeder/Gerhard_Schroeder_0001.jpg", "Colin_Powell/Colin_Powell_0002.jpg", "Tony_Blair/Tony_Blair_0002.jpg"]


def make_tiny_analyses(zoo: Path, out: Path) -> Path:
    """Precomputed analyses of the tiny zoo's models on six real LFW faces (the dashboard reads
    them from $INTERPFACE_ANALYSES)."""
    import numpy as np

    from interpface.analysis import run_analysis, save_precomputed
    from interpface.checkpoint import load_model
    from interpface.datasets import load_lfw
    from interpface.pipeline import FacePipeline

    lfw, pipe = load_lfw(), FacePipeline()
    faces = [pipe.prepare(lfw.path(rel)) for rel in FACES]
    crops = np.stack([f.crop for f in faces])
    landmarks = np.stack([f.landmarks for f in faces])
    for name in ("base", "full"):
        model, _ = load_model(zoo / name)
        result = run_analysis(model, crops, landmarks, regions=("eyes", "nose", "mouth"), bootstrap=0)
        save_precomputed(result, name, out)
    return out
