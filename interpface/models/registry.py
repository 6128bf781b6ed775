"""Model URIs -> :class:`FaceModel`: the one loader, called once at the edge (CLI, dashboard, scripts).

=========================  ==========================================================================
URI                        model
=========================  ==========================================================================
``interpface:DIR``         an interpface checkpoint folder (a bare folder path works too)
``dlib-resnet``            the PyTorch port of dlib's ResNet (converted locally by ``convert-dlib``)
``iresnet<depth>:FILE``    an arcface_torch IResNet-18/34/50/100 state dict (safetensors / .pth)
``onnx:FILE``              an ONNX graph, converted to an nn.Module and checked against onnxruntime
``spec:FILE``              a JSON spec naming a Python callable (imports code: trusted input only)
=========================  ==========================================================================

Other packages add schemes through the entry-point group ``interpface.face_models``: an entry point
named ``myscheme`` that points at a callable ``(rest_of_uri: str, **options) -> FaceModel`` makes
``myscheme:...`` resolve (like timm's ``create_model`` / ``list_models``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from interpface.errors import CheckpointError
from interpface.models.face_model import FaceModel

__all__ = [
    "resolve_model",
    "list_schemes",
    "register_scheme",
    "model_display_name",
    "is_model_uri",
    "scheme_of",
    "ENTRY_POINT_GROUP",
    "CODE_SCHEMES",
]

ENTRY_POINT_GROUP = "interpface.face_models"
#: Schemes whose loading imports code named in the file: never reachable from a browser.
CODE_SCHEMES = frozenset({"spec"})


@dataclass(frozen=True)
class _Scheme:
    name: str
    loader: Callable[..., FaceModel]
    help: str


_SCHEMES: dict[str, _Scheme] = {}


def register_scheme(name: str, loader: Callable[..., FaceModel], help: str = "") -> None:
    """Make ``name:REST`` resolve through ``loader(REST, **options)``."""
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise CheckpointError(f"a model scheme is lower-case letters, digits, '-' and '_': {name!r}")
    _SCHEMES[name] = _Scheme(name, loader, help)


# ------------------------------------------------------------------------------ built-in schemes
def _load_interpface(rest: str, **_) -> FaceModel:
    from interpface.models.adapters import InterpretableFaceModel
    from interpface.models.checkpoint import load_model

    net, info = load_model(rest)
    return InterpretableFaceModel(net, name=Path(rest).name or rest, info=info)


def _load_dlib(rest: str, cache_dir=None, **_) -> FaceModel:
    from interpface.models.adapters import DlibPortFaceModel

    if rest:
        raise CheckpointError(f"dlib-resnet takes no argument, got {rest!r}")
    return DlibPortFaceModel(cache_dir=cache_dir)


def _load_iresnet(depth: int) -> Callable[..., FaceModel]:
    def load(rest: str, **_) -> FaceModel:
        from interpface.models.adapters import IResNetFaceModel, build_iresnet

        if not rest:
            raise CheckpointError(f"iresnet{depth} needs a weight file: iresnet{depth}:FILE")
        return IResNetFaceModel(build_iresnet(depth, rest), name=f"iresnet{depth}:{Path(rest).name}")

    return load


def _load_onnx(rest: str, **options) -> FaceModel:
    from interpface.models.onnx_model import load_onnx_face_model

    if not rest:
        raise CheckpointError("onnx needs a file: onnx:FILE")
    return load_onnx_face_model(rest, **{k: v for k, v in options.items() if k in ("max_bytes",)})


def _load_spec(rest: str, **_) -> FaceModel:
    from interpface.models.adapters import SpecFaceModel

    return SpecFaceModel(rest)


register_scheme("interpface", _load_interpface, "an interpface checkpoint folder")
register_scheme("dlib-resnet", _load_dlib, "the PyTorch port of dlib's ResNet")
for _depth in (18, 34, 50, 100):
    register_scheme(f"iresnet{_depth}", _load_iresnet(_depth), f"an arcface_torch IResNet-{_depth} state dict")
register_scheme("onnx", _load_onnx, "an ONNX graph (with an optional NAME.json sidecar)")
register_scheme("spec", _load_spec, "a JSON model spec naming a Python callable")

_entry_points_loaded = False


def _load_entry_points() -> None:
    """Schemes of installed packages (group ``interpface.face_models``), read once."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _SCHEMES:
            register_scheme(ep.name, lambda rest, _ep=ep, **kw: _ep.load()(rest, **kw), f"from {ep.value}")


def list_schemes() -> dict[str, str]:
    """{scheme: what it loads}, built-in and from installed packages."""
    _load_entry_points()
    return {name: s.help for name, s in sorted(_SCHEMES.items())}


def scheme_of(uri: str | os.PathLike) -> tuple[str, str]:
    """(scheme, rest) of a model URI; a bare path is ``interpface``. ``iresnet50:FILE`` -> ("iresnet50", FILE)."""
    text = str(uri)
    if text == "dlib-resnet":
        return "dlib-resnet", ""
    head, sep, rest = text.partition(":")
    # a Windows drive letter or a path with a colon in it is a path, not a scheme
    if sep and re.fullmatch(r"[a-z][a-z0-9_-]+", head):
        _load_entry_points()
        if head in _SCHEMES:
            return head, rest
        if re.fullmatch(r"iresnet\d+", head):
            raise CheckpointError(f"{text}: no IResNet of depth {head[7:]}; choose from 18, 34, 50, 100")
        if not Path(text).exists():
            raise CheckpointError(f"unknown model scheme {head!r} in {text!r}; known: {', '.join(list_schemes())}")
    return "interpface", text


def is_model_uri(value) -> bool:
    """Whether a --checkpoint value names a non-interpface model (a scheme other than a folder)."""
    try:
        return scheme_of(value)[0] != "interpface" or str(value).startswith("interpface:")
    except CheckpointError:
        return True


def model_display_name(uri: str | os.PathLike) -> str:
    """A short name for tables and file names: the folder's name, or the scheme (``iresnet50``, ``onnx``:
    the file's stem)."""
    scheme, rest = scheme_of(uri)
    if scheme == "interpface":
        return Path(rest).name or rest
    if scheme in ("onnx", "spec"):
        return Path(rest).stem
    return scheme


def resolve_model(uri: str | os.PathLike, *, cache_dir=None, allow_code: bool = True, **options) -> FaceModel:
    """A model URI (see the module docstring) -> FaceModel. ``allow_code=False`` refuses schemes that
    import code (``spec``), for input that comes from a browser."""
    if isinstance(uri, FaceModel):
        return uri
    scheme, rest = scheme_of(uri)
    if scheme in CODE_SCHEMES and not allow_code:
        raise CheckpointError(
            f"{scheme}: models import code and cannot be loaded from here "
            "(command line and INTERPFACE_USER_MODELS only)"
        )
    model = _SCHEMES[scheme].loader(rest, cache_dir=cache_dir, **options)
    module = getattr(model, "module", None)
    if isinstance(module, torch.nn.Module):
        module.requires_grad_(False)  # inference only, whatever the scheme (see FaceModel)
    return model
