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


FACES = [
    "Grace_Hopper/Grace_Hopper_0001.jpg",
    "Wide_Hopper/Wide_Hopper_0001.jpg",
    "Eileen_Collins/Eileen_Collins_0001.jpg",
    "Long_Hopper/Long_Hopper_0001.jpg",
    "Grace_Hopper/Grace_Hopper_0002.jpg",
    "Wide_Hopper/Wide_Hopper_0002.jpg",
]


def make_tiny_analyses(zoo: Path, out: Path, faces) -> Path:
    """Precomputed analyses of the tiny zoo's models on six faces of the test face set `faces` (a
    FaceDataset; the dashboard reads them from $INTERPFACE_ANALYSES)."""
    import numpy as np

    from interpface.analysis import run_analysis, save_precomputed
    from interpface.faces.pipeline import FacePipeline
    from interpface.models.registry import resolve_model

    pipe = FacePipeline()
    prepared = [pipe.prepare(faces.path(rel)) for rel in FACES]
    crops = np.stack([f.crop for f in prepared])
    landmarks = np.stack([f.landmarks for f in prepared])
    for name in ("base", "full"):
        result = run_analysis(
            resolve_model(zoo / name),
            crops,
            landmarks,
            regions=("eyes", "nose", "mouth"),
            bootstrap=0,
            relpaths=list(FACES),
        )
        save_precomputed(result, name, out, crops=crops)
    return out


def dashboard_env(zoo: Path, analyses: Path, faces_root: Path, cache: Path) -> dict[str, str]:
    """Environment for the dashboard under test: the tiny zoo, its analyses, the face set as dataset."""
    return {
        "INTERPFACE_MODELS": str(zoo),
        "INTERPFACE_ANALYSES": str(analyses),
        "INTERPFACE_DATA": str(faces_root),
        "INTERPFACE_CACHE": str(cache),
    }


def make_user_black_box(root: Path, analyses: Path, faces) -> str:
    """A randomly initialised IResNet-18 saved as a user's safetensors state dict, with a precomputed
    analysis (its layer3 channels as filters) on the same six faces. Returns the
    INTERPFACE_USER_MODELS value that lists it as "r18"."""
    import numpy as np
    import torch
    from safetensors.torch import save_file

    from interpface.analysis import run_analysis, save_precomputed
    from interpface.faces.pipeline import FacePipeline
    from interpface.models.adapters import IResNet
    from interpface.models.registry import resolve_model

    torch.manual_seed(0)
    path = root / "r18.safetensors"
    save_file({k: v.contiguous() for k, v in IResNet(18).eval().state_dict().items()}, str(path))
    value = f"iresnet18:{path}"
    pipe = FacePipeline()
    prepared = [pipe.prepare(faces.path(rel)) for rel in FACES]
    crops, landmarks = np.stack([f.crop for f in prepared]), np.stack([f.landmarks for f in prepared])
    result = run_analysis(
        resolve_model(value), crops, landmarks, regions=("eyes", "nose", "mouth"), bootstrap=0, relpaths=list(FACES)
    )
    save_precomputed(result, "r18", analyses, crops=crops)
    return f"r18={value}"
