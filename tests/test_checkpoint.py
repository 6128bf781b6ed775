"""Checkpoints: exact round trip, fp16 shipping, and refusal of anything tampered, mismatched or pickled."""

from __future__ import annotations

import json
import pickle
import random

import numpy as np
import pytest
import torch

from interpface.errors import CheckpointError, ConfigError
from interpface.models.checkpoint import (
    load_model,
    load_resume_state,
    read_checkpoint_info,
    save_checkpoint,
    save_resume_state,
)
from interpface.models.networks import InterpretableFaceNet, get_model_config

torch.set_num_threads(2)


class _Payload:
    """Unpickling this creates `path`: proof that pickle code ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _model() -> InterpretableFaceNet:
    torch.manual_seed(0)
    m = InterpretableFaceNet(get_model_config("tiny", num_classes=3))
    # One train-mode pass with momentum 1 makes the BN running stats the batch stats, so eval outputs
    # are O(1) and depend on every buffer.
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.momentum = 1.0
    with torch.no_grad():
        m.train()(torch.rand(4, 3, 96, 96))
    return m.eval()


@pytest.fixture(scope="module")
def model():
    return _model()


@pytest.fixture(scope="module")
def x():
    return torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(5))


def _outputs(m, x):
    with torch.no_grad():
        f = m(x)
        return f, m.logits(f)


def test_round_trip_identical(tmp_path, model, x):
    extra = {"class_names": ["a", "b", "c"], "train": {"lr": 0.001}}
    save_checkpoint(tmp_path / "ck", model, model_config=model.config, extra=extra)
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["config.json", "model.safetensors"]  # no temp files
    loaded, info = load_model(tmp_path / "ck")
    assert not loaded.training and loaded.config == model.config
    assert info["class_names"] == ["a", "b", "c"] and info["train"]["lr"] == 0.001
    for a, b in zip(_outputs(model, x), _outputs(loaded, x)):
        assert torch.equal(a, b)
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    # The files themselves are accepted as paths too.
    load_model(tmp_path / "ck" / "model.safetensors")
    assert read_checkpoint_info(tmp_path / "ck" / "config.json")["sha256"] == info["sha256"]


def test_fp16_loads_as_float32(tmp_path, model, x):
    save_checkpoint(tmp_path, model, model_config=model.config, dtype=torch.float16)
    loaded, info = load_model(tmp_path)
    assert info["weights_dtype"] == "float16"
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    f_ref, _ = _outputs(model, x)
    f, _ = _outputs(loaded, x)
    assert torch.nn.functional.cosine_similarity(f, f_ref).min() > 0.99


def test_bad_extra_refused_before_writing(tmp_path, model):
    with pytest.raises(ConfigError):
        save_checkpoint(tmp_path, model, model_config=model.config, extra={"sha256": "x"})
    with pytest.raises(ConfigError):
        save_checkpoint(tmp_path, model, model_config=model.config, extra={"bad": object()})
    assert list(tmp_path.iterdir()) == []


def test_channels_last_model_saves(tmp_path, x):
    m = _model().to(memory_format=torch.channels_last)
    save_checkpoint(tmp_path, m, model_config=m.config)
    loaded, _ = load_model(tmp_path)
    for k, v in m.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k  # same values; only the layout differs


def test_tampered_weights_refused(tmp_path, model):
    save_checkpoint(tmp_path, model, model_config=model.config)
    path = tmp_path / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        load_model(tmp_path)


def _rewrite_config(directory, **changes):
    path = directory / "config.json"
    info = json.loads(path.read_text())
    for k, v in changes.items():
        if k == "model":
            info["model"].update(v)
        else:
            info[k] = v
    path.write_text(json.dumps(info))


def test_pickle_payload_never_runs(tmp_path, model):
    import hashlib

    marker = tmp_path / "PWNED"
    # The payload is live: plain unpickling does run it.
    live = tmp_path / "live"
    pickle.loads(pickle.dumps(_Payload(str(live))))
    assert live.exists()

    # 1) A pickle disguised as model.safetensors, with a matching hash in config.json.
    ck = tmp_path / "ck"
    save_checkpoint(ck, model, model_config=model.config)
    torch.save({"conv11.conv.weight": _Payload(str(marker))}, ck / "model.safetensors")
    _rewrite_config(ck, sha256=hashlib.sha256((ck / "model.safetensors").read_bytes()).hexdigest())
    with pytest.raises(CheckpointError, match="safetensors"):
        load_model(ck)
    assert not marker.exists()

    # 2) A .pt file, given directly or as the only weights in the directory.
    pt_dir = tmp_path / "pt"
    pt_dir.mkdir()
    torch.save({"w": _Payload(str(marker))}, pt_dir / "model.pt")
    (pt_dir / "config.json").write_text((ck / "config.json").read_text())
    with pytest.raises(CheckpointError, match="pickle"):
        load_model(pt_dir / "model.pt")
    with pytest.raises(CheckpointError, match="missing model.safetensors"):
        load_model(pt_dir)
    assert not marker.exists()


def test_shape_mismatch_refused(tmp_path, model):
    save_checkpoint(tmp_path, model, model_config=model.config)
    _rewrite_config(tmp_path, model={"width": 0.25})
    with pytest.raises(CheckpointError, match="shape"):
        load_model(tmp_path)


def test_key_mismatch_refused(tmp_path, model):
    save_checkpoint(tmp_path, model, model_config=model.config)
    _rewrite_config(tmp_path, model={"num_classes": 0})  # weights have a classifier, config has none
    with pytest.raises(CheckpointError, match="unexpected"):
        load_model(tmp_path)


def test_bad_config_files_refused(tmp_path, model):
    save_checkpoint(tmp_path, model, model_config=model.config)
    cfg = tmp_path / "config.json"
    good = cfg.read_text()
    cfg.write_text("{not json")
    with pytest.raises(CheckpointError, match="malformed JSON"):
        load_model(tmp_path)
    cfg.write_text(good.replace("interpface-checkpoint", "something-else"))
    with pytest.raises(CheckpointError, match="format"):
        load_model(tmp_path)
    cfg.write_text(good)
    _rewrite_config(tmp_path, model={"bogus": 1})
    with pytest.raises(CheckpointError, match="unknown key"):
        load_model(tmp_path)


def test_missing_paths_refused(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="missing"):
        load_model(tmp_path)  # exists but empty
    (tmp_path / "weights.npy").write_bytes(b"x")
    with pytest.raises(CheckpointError):
        load_model(tmp_path / "weights.npy")


def test_resume_state_round_trip(tmp_path):
    model = _model()  # not the shared fixture: this test trains it
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.5, 0.999))
    model.train()
    model(torch.rand(2, 3, 96, 96)).sum().backward()
    opt.step()
    model.eval()
    state = {
        "optimizer": opt.state_dict(),
        "step": 17,
        "torch_rng": torch.get_rng_state(),
        "python_rng": random.getstate(),
        "note": None,
    }
    path = save_resume_state(tmp_path / "resume.pt", state)
    back = load_resume_state(path)
    assert back["step"] == 17 and back["note"] is None
    assert torch.equal(back["torch_rng"], state["torch_rng"])
    random.setstate(back["python_rng"])  # a valid state again
    opt2 = torch.optim.Adam(model.parameters(), lr=1e-3)
    opt2.load_state_dict(back["optimizer"])
    assert opt2.param_groups[0]["betas"] == (0.5, 0.999)
    s1 = opt.state_dict()["state"][0]
    s2 = opt2.state_dict()["state"][0]
    assert torch.equal(s1["exp_avg"], s2["exp_avg"])
    assert [p.name for p in tmp_path.iterdir()] == ["resume.pt"]


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_resume_state_refuses_unsafe(tmp_path):
    with pytest.raises(CheckpointError, match="numpy"):
        save_resume_state(tmp_path / "r.pt", {"np": np.zeros(3)})
    marker = tmp_path / "PWNED"
    torch.save({"x": _Payload(str(marker))}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        load_resume_state(tmp_path / "evil.pt")
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"x": _Payload(str(marker))}))
    with pytest.raises(CheckpointError):
        load_resume_state(tmp_path / "evil.pkl")
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="not found"):
        load_resume_state(tmp_path / "missing.pt")
