"""The PyTorch port of dlib's ResNet face descriptor: parsing dlib's file format, bad files, and
equality with dlib's own C++ network on the same chips."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from interpface.faces.images import load_image
from interpface.models.dlib_files import find_dlib_resnet_model
from interpface.models.dlib_port import (
    DlibResNet,
    ModelFileError,
    _dlib_add,
    _expected_kinds,
    convert_dlib_model,
    load_dlib_port,
    parse_dlib_net,
    port_cache_path,
    port_descriptors,
)
from interpface.models.teacher import face_chip


@pytest.fixture(scope="module")
def dlib_net():
    import dlib

    return dlib.face_recognition_model_v1(str(find_dlib_resnet_model()))


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    cache = tmp_path_factory.mktemp("port_cache")
    convert_dlib_model(cache_dir=cache)
    return load_dlib_port(cache, convert=False)


def _chips(dataset, relpaths, detector):
    chips = []
    for rel in relpaths:
        rgb = load_image(dataset.path(rel))
        chip = face_chip(rgb, detector.detect(rgb).landmarks)
        chips += [chip, np.ascontiguousarray(chip[:, ::-1])]
    return np.stack(chips)


def _compare(port, dlib_net, chips):
    torch.set_num_threads(2)
    ref = np.asarray(dlib_net.compute_face_descriptor(list(chips)), np.float64)
    out = port_descriptors(port, chips).astype(np.float64)
    cos = (ref * out).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(out, axis=1)
    return cos, np.abs(ref - out).max()


def test_parsed_structure_is_dlibs_network():
    head, layers = parse_dlib_net(find_dlib_resnet_model())
    assert head["loss"].startswith("loss_metric") and head["dist_thresh"] == pytest.approx(0.6)
    assert [layer.kind for layer in layers] == _expected_kinds()
    assert layers[0].info == {"mean_rgb": pytest.approx([122.782, 117.001, 104.298], abs=1e-3), "nr": 150, "nc": 150}
    assert sum(layer.kind == "con" for layer in layers) == 29 and layers[-1].arrays["weight"].shape == (128, 256)


def test_port_equals_dlib_on_the_face_set(faces, detector, port, dlib_net):
    """Every test-set face and its mirror image (48 chips): cosine >= 0.9999 to dlib's descriptor."""
    cos, max_abs = _compare(port, dlib_net, _chips(faces, [r.relpath for r in faces.records], detector))
    print(f"face set: {len(cos)} chips, min cosine {cos.min():.8f}, max |difference| {max_abs:.2e}")
    assert cos.min() >= 0.9999 and max_abs < 1e-4


def test_port_equals_dlib_on_lfw(lfw, detector, port, dlib_net):
    """128 seeded LFW DevTest images and their mirror images (256 chips)."""
    from interpface.faces.datasets import LFWProtocols

    images = LFWProtocols.load(lfw.protocol_dir).dev_test_images
    pick = np.random.default_rng(0).choice(len(images), 128, replace=False)
    cos, max_abs = _compare(port, dlib_net, _chips(lfw, [images[i].relpath for i in sorted(pick)], detector))
    print(f"LFW DevTest: {len(cos)} chips, min cosine {cos.min():.8f}, max |difference| {max_abs:.2e}")
    assert cos.min() >= 0.9999 and max_abs < 1e-4


def test_dlib_add_zero_pads_the_smaller_tensor():
    a = torch.ones(1, 2, 4, 4)
    b = torch.full((1, 3, 3, 3), 2.0)
    out = _dlib_add(a, b)
    assert out.shape == (1, 3, 4, 4)
    assert out[0, 0, 0, 0] == 3 and out[0, 0, 3, 3] == 1  # outside b: a alone
    assert out[0, 2, 0, 0] == 2 and out[0, 2, 3, 3] == 0  # outside a: b alone; outside both: 0


def test_port_shapes_and_stages(port):
    x = torch.rand(2, 3, 150, 150) * 255
    stages = port.stages(x)
    assert [tuple(v.shape[1:]) for v in stages.values()] == [
        (32, 35, 35),
        (32, 35, 35),
        (64, 17, 17),
        (128, 8, 8),
        (256, 4, 4),
        (256, 2, 2),
    ]
    assert port(x).shape == (2, 128)


# -- bad files -------------------------------------------------------------------------------------
def _pack_int(v: int) -> bytes:
    neg, v = (0x80, -v) if v < 0 else (0, v)
    body = v.to_bytes(max(1, (v.bit_length() + 7) // 8), "little")
    return bytes([len(body) | neg]) + body


def _pack_str(s: str) -> bytes:
    return _pack_int(len(s)) + s.encode()


def _pack_float(x: float) -> bytes:
    import math

    m, e = math.frexp(x)
    return _pack_int(int(m * 2**24)) + _pack_int(e - 24)


def _pack_tensor(shape) -> bytes:
    n = int(np.prod(shape))
    return _pack_int(2) + b"".join(_pack_int(d) for d in shape) + struct.pack(f"<{n}f", *np.linspace(-1, 1, n))


def _pack_alias(shape) -> bytes:
    return _pack_int(1) + b"".join(_pack_int(d) for d in shape)


def _tiny_dlib_file() -> bytes:
    """A valid dlib file of another network: loss_metric<fc_no_bias<4, relu<input_rgb_image_sized<150>>>>."""
    empty = _pack_tensor((0, 0, 0, 0))
    out = _pack_int(1) + _pack_str("loss_metric_2") + _pack_float(0.04) + _pack_float(0.6)
    out += _pack_int(2) + _pack_int(3)  # fc's add_layer, relu's add_layer (on the input)
    out += _pack_str("input_rgb_image_sized") + b"".join(_pack_float(v) for v in (122.0, 117.0, 104.0))
    out += _pack_int(150) + _pack_int(150)
    out += _pack_str("relu_2") + b"0" + b"000" + empty * 3 + _pack_int(1)
    out += _pack_str("fc_3") + _pack_int(4) + _pack_int(8) + _pack_tensor((1, 1, 1, 32)) + _pack_alias((8, 4, 1, 1))
    out += _pack_alias((0, 0, 0, 0)) + _pack_int(1) + b"".join(_pack_float(1.0) for _ in range(4)) + b"0"
    return out + b"000" + empty * 3


def test_parser_reads_a_hand_made_file_and_refuses_its_structure(tmp_path):
    path = tmp_path / "other.dat"
    path.write_bytes(_tiny_dlib_file())
    head, layers = parse_dlib_net(path)  # the format parses ...
    assert [layer.kind for layer in layers] == ["input", "relu", "fc"] and layers[2].arrays["weight"].shape == (4, 8)
    assert head["margin"] == pytest.approx(0.04)
    with pytest.raises(ModelFileError, match="layer structure differs.*face-recognition-models"):
        convert_dlib_model(path, cache_dir=tmp_path)  # ... but it is not dlib's face network


@pytest.mark.parametrize("content", [b"", b"not a dlib file at all", "truncated", "trailing"])
def test_corrupt_files_give_one_clear_error(tmp_path, content):
    src = find_dlib_resnet_model().read_bytes()
    data = {"truncated": src[: len(src) // 2], "trailing": src + b"\x00\x01"}.get(content, content)
    path = tmp_path / "bad.dat"
    path.write_bytes(data)
    with pytest.raises(ModelFileError) as exc:
        convert_dlib_model(path, cache_dir=tmp_path)
    assert "face-recognition-models" in str(exc.value) and "\n" not in str(exc.value)
    assert not port_cache_path(tmp_path).exists()  # nothing half-written


def test_corrupt_cache_and_missing_package_file(tmp_path, monkeypatch):
    from interpface.cli.main import main
    from interpface.models.dlib_files import PeerModelMissingError

    out = port_cache_path(tmp_path)
    out.parent.mkdir(parents=True)
    out.write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="convert-dlib"):
        load_dlib_port(tmp_path, convert=False)
    monkeypatch.setenv("INTERPFACE_DLIB_RESNET", str(tmp_path / "nope.dat"))
    with pytest.raises(PeerModelMissingError, match="face-recognition-models"):
        convert_dlib_model(cache_dir=tmp_path)
    assert main(["convert-dlib", "--cache-dir", str(tmp_path), "--force"]) == 2


def test_convert_command_is_idempotent(tmp_path, capsys):
    from interpface.cli.main import main

    assert main(["convert-dlib", "--cache-dir", str(tmp_path), "--json", str(tmp_path / "c.json")]) == 0
    assert "converted" in capsys.readouterr().out and port_cache_path(tmp_path).is_file()
    assert main(["convert-dlib", "--cache-dir", str(tmp_path)]) == 0
    assert "already converted" in capsys.readouterr().out
    state = DlibResNet().state_dict()
    assert set(load_dlib_port(tmp_path).state_dict()) == set(state)


def test_port_peer_matches_dlib_peer(faces):
    from interpface.evaluation.peers import DlibPortEmbedder, DlibResNetEmbedder

    paths = [faces.path(r.relpath) for r in faces.records[:6]]
    a, fa = DlibResNetEmbedder().embed_images(paths)
    b, fb = DlibPortEmbedder().embed_images(paths)
    assert not fa and not fb
    assert (a * b).sum(axis=1).min() > 0.9999
