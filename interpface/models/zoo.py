"""The bundled reference models (assets/models/<variant>/), the black-box face models listed beside
them (the dlib port, and a user's own through INTERPFACE_USER_MODELS), and what ships with each."""

from __future__ import annotations

from pathlib import Path

from interpface.files import assets_dir, read_json

REFERENCE_VARIANTS = ("base", "base_aug", "sad", "fad", "full")
VARIANT_LABELS = {
    "base": "Base CNN",
    "base_aug": "Base CNN + occlusion augmentation",
    "sad": "SAD only",
    "fad": "FAD only",
    "full": "SAD + FAD (the paper's method)",
    "full_t130": "SAD + FAD, t = 130",
    "full_t320": "SAD + FAD, t = 320",
    "dlib_port": "dlib ResNet (black box, PyTorch port)",
}

#: The training starting point kept beside the shipped models (the patient stem, so that the variants
#: can be trained in a later session without re-training it); not a dashboard model.
STARTING_POINTS = ("stem_patient",)

#: Black boxes listed beside our models: name -> the --checkpoint value that loads it.
BLACK_BOXES = {"dlib_port": "dlib-resnet"}


def user_models(text: str | None) -> dict[str, str]:
    """INTERPFACE_USER_MODELS ("name=iresnet50:/path/r50.pth;other=spec:/path/spec.json") -> {name: value}.
    A bare value gets its file name as name."""
    from interpface.errors import ConfigError

    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(";"))):
        name, sep, value = item.partition("=")
        if not sep:
            name, value = Path(item.split(":", 1)[-1]).stem or item, item
        name, value = name.strip(), value.strip()
        if not name or not value:
            raise ConfigError(f"INTERPFACE_USER_MODELS: {item!r} is not name=value")
        out[name] = value
    return out


def peer_evaluation(name: str) -> dict | None:
    """The shipped evaluation of a black box (assets/peers/<name>/evaluation.json), or None."""
    return read_json(assets_dir() / "peers" / name / "evaluation.json")


def models_dir() -> Path:
    return assets_dir() / "models"


def available_models(root: str | Path | None = None) -> dict[str, Path]:
    """{variant: checkpoint dir} for every model folder holding model.safetensors + config.json,
    reference variants first, in the paper's order; the training starting points are left out."""
    root = Path(root) if root else models_dir()
    found = (
        {
            p.name: p
            for p in sorted(root.glob("*"))
            if (p / "model.safetensors").is_file() and (p / "config.json").is_file() and p.name not in STARTING_POINTS
        }
        if root.is_dir()
        else {}
    )
    order = [v for v in REFERENCE_VARIANTS if v in found] + [v for v in found if v not in REFERENCE_VARIANTS]
    return {v: found[v] for v in order}


def model_card(checkpoint_dir: str | Path) -> dict:
    """Config, training record and shipped metrics of a checkpoint folder (missing parts are None)."""
    d = Path(checkpoint_dir)
    config = read_json(d / "config.json") or {}
    return {
        "name": d.name,
        "label": VARIANT_LABELS.get(d.name, d.name),
        "model": config.get("model"),
        "training_config": config.get("training"),
        "n_classes": len(config.get("class_names", [])),
        "data_digest": config.get("data_digest"),
        "training": read_json(d / "training.json"),
        "evaluation": read_json(d / "evaluation.json"),
    }
