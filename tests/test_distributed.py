"""`--ray`: data prepare, embed and evaluate on a local Ray give the local run's rows.

One local Ray for the module (2 CPUs, no dashboard; ~4 s to start here, each Ray Data run then ~3-6 s
of actor start-up: the workers import interpface and load their detector / model), shut down after
the module. The tests are in one xdist group so that one pytest worker starts it (scripts/test.sh
runs with --dist loadgroup).
"""

import json
import shutil
import sys
import time

import numpy as np
import pytest
import torch

import interpface.faces.prepare as prep
from interpface.cli.main import main
from interpface.errors import ConfigError
from interpface.faces.datasets import scan_identity_folders
from interpface.faces.distributed import RayNotInstalledError, import_ray, plain_batch
from interpface.faces.prepare import PreparedDataset
from interpface.models.adapters import InterpretableFaceModel
from interpface.models.checkpoint import save_checkpoint
from interpface.models.networks import InterpretableFaceNet, get_model_config
from tests.tiny import prepared_mini_lfw

pytestmark = pytest.mark.xdist_group("ray")

PEOPLE = {"Long_Astronaut": 1, "Grace_Hopper": 4, "Eileen_Collins": 3}
LFW_PEOPLE = {"Grace_Hopper": 4, "Wide_Astronaut": 4, "Long_Hopper": 4}
DEV_PAIRS = [
    ("Grace_Hopper", 1, 2),
    ("Wide_Astronaut", 1, 3),
    ("Grace_Hopper", 3, "Wide_Astronaut", 3),
    ("Long_Hopper", 1, "Grace_Hopper", 4),
]


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray of 2 CPUs for this module only (never an existing cluster), shut down after it."""
    import ray  # pinned in requirements.txt: a missing Ray is an install error, not a skip

    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    print(f"Ray started in {time.perf_counter() - t0:.1f} s")
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory, faces):
    """8 faces, a garbage file, an empty file and a picture without a face (a fallback fit)."""
    root = tmp_path_factory.mktemp("ray-faces") / "faces"
    for person, n in PEOPLE.items():
        (root / person).mkdir(parents=True)
        for k in range(1, n + 1):
            name = f"{person}_{k:04d}.jpg"
            shutil.copy(faces.path(f"{person}/{name}"), root / person / name)
    (root / "Grace_Hopper" / "Grace_Hopper_9999.jpg").write_bytes(b"garbage")
    (root / "Eileen_Collins" / "Eileen_Collins_0099.png").write_bytes(b"")
    import cv2

    cv2.imwrite(str(root / "Eileen_Collins" / "Eileen_Collins_0050.jpg"), np.full((160, 160, 3), 128, np.uint8))
    return scan_identity_folders(root, name="small")


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = InterpretableFaceModel(InterpretableFaceNet(get_model_config("tiny")).eval(), name="tiny")
    d = tmp_path_factory.mktemp("ray-ckpt") / "tiny"
    save_checkpoint(d, model.module, model_config=model.module.config, extra={})
    return d


def _arrays_equal(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f"), k


# ------------------------------------------------------------------------------- without Ray
def test_missing_ray_is_a_typed_error(monkeypatch, tiny_ckpt, faces, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(RayNotInstalledError, match=r"interpface\[ray\]"):
        import_ray()
    assert issubclass(RayNotInstalledError, ConfigError)
    image = str(faces.path("Grace_Hopper/Grace_Hopper_0001.jpg"))
    argv = ["embed", image, "--checkpoint", str(tiny_ckpt), "--out", str(tmp_path / "e.npy"), "--ray", "auto"]
    assert main(argv + ["--quiet"]) == 2
    assert r"install interpface[ray]" in capsys.readouterr().err


def test_result_batches_carry_text_as_objects():
    # numpy's fixed-width text ('<U54', '<U66') became Arrow tensors of that width in Ray Data, and two
    # batches of LFW paths of different widths then failed to concatenate (found on 400 LFW images)
    batch = plain_batch({"relpaths": np.array(["a/a_1.jpg", "bb/bb_1.jpg"]), "hw": np.zeros((2, 2), np.int32)})
    assert batch["relpaths"].dtype == object and batch["relpaths"].tolist() == ["a/a_1.jpg", "bb/bb_1.jpg"]
    assert batch["hw"].dtype == np.int32


# ----------------------------------------------------------------------------------- on Ray
def test_prepare_on_ray_gives_the_local_cache(local_ray, small_dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(prep, "CHUNK_SIZE", 4)  # 11 images: 3 chunks, the last one short
    local = prep.prepare_dataset(small_dataset, cache_dir=tmp_path / "local", workers=1, progress=False)
    assert local.counts["failed"] == 2 and local.counts["fallback"] == 1
    with monkeypatch.context() as m:  # the same run through the CLI: `data prepare --ray auto`
        m.setattr("interpface.faces.datasets.load_dataset", lambda name, root=None: small_dataset)
        argv = ["data", "prepare", "--dataset", "x", "--cache-dir", str(tmp_path / "ray"), "--ray", "auto"]
        assert main(argv + ["--workers", "2", "--quiet", "--json", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["counts"] == local.counts and report["failures"] == local.failures == {"ImageDecodeError": 2}
    a, b = PreparedDataset(local.cache_dir), PreparedDataset(report["cache_dir"])
    assert a.index == b.index  # statuses, errors, detectors, fit residuals, fallback box: row for row
    for name in ("crops", "landmarks", "raw_landmarks"):
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name
    # the chunk files too (what a resumed run reads), dtypes included
    for sub in ("detect", a.directory.name):
        files = sorted((a.directory.parent / sub).glob("chunk_*.npz"))
        assert len(files) == 3
        for f in files:
            _arrays_equal(dict(np.load(f)), dict(np.load(b.directory.parent / sub / f.name)))
    # a run killed half-way resumes on Ray: only the missing chunks go to the workers (chunks 1 and 2 here)
    kept = {f: f.stat().st_mtime_ns for f in (b.directory.parent / "detect").glob("chunk_0000[02].npz")}
    (b.directory.parent / "detect" / "chunk_00001.npz").unlink()
    (b.directory / "chunk_00002.npz").unlink()
    (b.directory / "index.json").unlink()
    again = prep.prepare_dataset(small_dataset, cache_dir=tmp_path / "ray", workers=2, progress=False, ray="auto")
    assert PreparedDataset(again.cache_dir).index == a.index
    assert {f: f.stat().st_mtime_ns for f in kept} == kept  # finished chunks were not redone
    for sub, name in (("detect", "chunk_00001.npz"), (a.directory.name, "chunk_00002.npz")):
        _arrays_equal(dict(np.load(a.directory.parent / sub / name)), dict(np.load(b.directory.parent / sub / name)))


def test_embed_on_ray_gives_the_local_rows(local_ray, tiny_ckpt, faces, tmp_path, capsys):

    people = ["Grace_Hopper", "Eileen_Collins", "Wide_Astronaut"]
    sources = [str(faces.path(f"{p}/{p}_{k:04d}.jpg")) for p in people for k in (1, 2)]
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    sources[2:2] = [str(bad), str(tmp_path / "missing.jpg")]
    (tmp_path / "list.txt").write_text("\n".join(sources) + "\n")
    out = {}
    for how, extra in (("local", []), ("ray", ["--ray", "auto", "--ray-workers", "2", "--batch-size", "3"])):
        argv = ["embed", "--list", str(tmp_path / "list.txt"), "--checkpoint", str(tiny_ckpt), "--quiet", "--flip"]
        argv += ["--out", str(tmp_path / f"{how}.npy"), "--json", str(tmp_path / f"{how}.json")]
        assert main(argv + extra) == 0, capsys.readouterr().err
        out[how] = np.load(tmp_path / f"{how}.npy"), json.loads((tmp_path / f"{how}.json").read_text())
    (emb, meta), (emb_r, meta_r) = out["local"], out["ray"]
    assert emb.shape == emb_r.shape == (8, emb.shape[1]) and emb_r.dtype == np.float32
    nan = np.isnan(emb).any(axis=1)
    assert nan.tolist() == [False, False, True, True, False, False, False, False]
    assert np.array_equal(np.isnan(emb_r).any(axis=1), nan)
    np.testing.assert_allclose(emb_r[~nan], emb[~nan], atol=1e-6)  # other batches (3 images), same numbers
    assert meta_r["failures"] == meta["failures"] and meta_r["faces"] == meta["faces"]


def test_evaluate_on_ray_gives_the_local_results(local_ray, tiny_ckpt, faces, tmp_path_factory, tmp_path, capsys):
    root, cache = prepared_mini_lfw(faces, tmp_path_factory.mktemp("ray-mini"), LFW_PEOPLE, DEV_PAIRS, DEV_PAIRS, 1)
    results = {}
    for how, extra in (("local", []), ("ray", ["--ray", "auto", "--ray-workers", "2"])):
        argv = ["evaluate", "--checkpoint", str(tiny_ckpt), "--data-root", str(root), "--cache-dir", str(cache)]
        argv += ["--condition", "synthetic", "--occlude", "both", "--bootstrap", "3", "--trials", "2", "--quiet"]
        assert main(argv + ["--json", str(tmp_path / f"{how}.json")] + extra) == 0, capsys.readouterr().err
        results[how] = json.loads((tmp_path / f"{how}.json").read_text())
    a, b = results["local"], results["ray"]
    assert b["ray"] == "auto" and a["n_pairs"] == b["n_pairs"] and a["failures"] == b["failures"]
    assert a["occluded_side"] == "both" and b["timings"]["embed_synthetic_images"] == 12  # painted here, embedded there
    for key in ("accuracy", "auc", "eer", "rank1", "rank5"):
        assert b[key] == pytest.approx(a[key], abs=1e-6), key
