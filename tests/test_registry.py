"""The model registry: one resolver for every model URI, schemes from other packages through the
``interpface.face_models`` entry-point group, and no code-importing scheme where code is not allowed."""

from __future__ import annotations

import importlib.metadata

import pytest

from interpface.errors import CheckpointError
from interpface.models import registry
from interpface.models.adapters import InterpretableFaceModel
from interpface.models.checkpoint import save_checkpoint
from interpface.models.face_model import PART_FILTERS, FaceModel
from interpface.models.registry import list_schemes, model_display_name, resolve_model, scheme_of
from tests.tiny import tiny_model


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    net = tiny_model(0)
    path = tmp_path_factory.mktemp("reg") / "tiny"
    save_checkpoint(path, net, model_config=net.config, extra={})
    return path


def test_schemes_and_parsing(ckpt):
    assert {"interpface", "dlib-resnet", "iresnet18", "iresnet50", "iresnet100", "onnx", "spec"} <= set(list_schemes())
    assert scheme_of(ckpt) == ("interpface", str(ckpt))
    assert scheme_of(f"interpface:{ckpt}") == ("interpface", str(ckpt))
    assert scheme_of("iresnet50:/m/r50.pth") == ("iresnet50", "/m/r50.pth")
    assert scheme_of("onnx:model.onnx") == ("onnx", "model.onnx")
    assert scheme_of("dlib-resnet") == ("dlib-resnet", "")
    with pytest.raises(CheckpointError, match="unknown model scheme 'tflite'"):
        scheme_of("tflite:model.tflite")
    with pytest.raises(CheckpointError, match="depth 19"):
        scheme_of("iresnet19:x.pth")
    assert model_display_name(ckpt) == "tiny" and model_display_name("onnx:/m/w600k_r50.onnx") == "w600k_r50"
    assert model_display_name("iresnet50:/m/r50.pth") == "iresnet50"


def test_a_bare_folder_and_the_interpface_scheme_give_the_same_model(ckpt):
    a, b = resolve_model(ckpt), resolve_model(f"interpface:{ckpt}")
    assert isinstance(a, InterpretableFaceModel) and a.has(PART_FILTERS) and a.name == "tiny"
    assert a.info["model"] == b.info["model"] and resolve_model(a) is a
    with pytest.raises(CheckpointError):
        resolve_model(ckpt.parent / "missing")


def test_code_importing_schemes_can_be_refused(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text('{"module": "os:getcwd", "input_size": 8, "layers": ["x"]}')
    with pytest.raises(CheckpointError, match="import code"):
        resolve_model(f"spec:{spec}", allow_code=False)


class _Toy(FaceModel):
    name, dim, input_size = "toy", 3, 8


def toy_loader(rest: str, **options) -> FaceModel:
    model = _Toy()
    model.name = f"toy:{rest}"
    return model


def test_other_packages_add_schemes_through_entry_points(monkeypatch):
    ep = importlib.metadata.EntryPoint(
        name="toyzoo", value="tests.test_registry:toy_loader", group=registry.ENTRY_POINT_GROUP
    )

    def entry_points(group=None, **_):
        return [ep] if group == registry.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    monkeypatch.setattr(registry, "_SCHEMES", dict(registry._SCHEMES))
    assert "toyzoo" in list_schemes()
    model = resolve_model("toyzoo:abc")
    assert isinstance(model, _Toy) and model.name == "toy:abc"
