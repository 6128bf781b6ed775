from collections import Counter

import pytest

from interpface.errors import DatasetError
from interpface.faces.datasets import (
    LFWProtocols,
    check_pairs_exist,
    read_lfw_pairs,
    read_pairs_file,
    resolve_data_root,
    scan_identity_folders,
)


# -- the real LFW's own facts (skipped without the dataset) ----------------------------------------
def test_lfw_layout_counts(lfw):
    assert len(lfw) == 13233
    assert len(lfw.identities) == 5749


def test_view1_counts(lfw):
    p = LFWProtocols.load(lfw.protocol_dir)
    assert (len(p.dev_train_people), len(p.dev_train_images)) == (4038, 9525)
    assert (len(p.dev_test_people), len(p.dev_test_images)) == (1711, 3708)
    assert Counter(q.same for q in p.dev_train_pairs) == {True: 1100, False: 1100}
    assert Counter(q.same for q in p.dev_test_pairs) == {True: 500, False: 500}
    # View 1 identities are disjoint.
    assert not {n for n, _ in p.dev_train_people} & {n for n, _ in p.dev_test_people}


def test_view2_folds(lfw):
    p = LFWProtocols.load(lfw.protocol_dir)
    counts = Counter((q.fold, q.same) for q in p.view2_pairs)
    assert counts == {(f, s): 300 for f in range(10) for s in (True, False)}


def test_every_named_file_exists(lfw):
    p = LFWProtocols.load(lfw.protocol_dir)
    check_pairs_exist(p.view2_pairs + p.dev_train_pairs + p.dev_test_pairs, lfw.image_dir)
    for rec in p.dev_train_images + p.dev_test_images:
        assert lfw.path(rec.relpath).is_file(), rec.relpath


# -- the same readers on the test face set (always run) ---------------------------------------------
def test_faceset_layout_and_protocols(faces):
    from tests.faceset import DEV_TEST, DEV_TRAIN, IDENTITIES

    assert len(faces) == sum(i.n_images for i in IDENTITIES) == 24
    assert faces.identities == sorted(i.name for i in IDENTITIES)
    p = LFWProtocols.load(faces.protocol_dir)
    assert {n for n, _ in p.dev_train_people} == set(DEV_TRAIN) and {n for n, _ in p.dev_test_people} == set(DEV_TEST)
    assert (len(p.dev_train_images), len(p.dev_test_images)) == (10, 14)
    assert Counter(q.same for q in p.dev_train_pairs) == {True: 4, False: 4}
    assert Counter(q.same for q in p.dev_test_pairs) == {True: 6, False: 6}
    assert Counter((q.fold, q.same) for q in p.view2_pairs) == {(f, s): 3 for f in range(2) for s in (True, False)}
    check_pairs_exist(p.view2_pairs + p.dev_train_pairs + p.dev_test_pairs, faces.image_dir)
    for q in p.dev_test_pairs + p.dev_train_pairs:  # matched pairs name one person, mismatched two
        assert (q.a.split("/")[0] == q.b.split("/")[0]) == q.same


def test_faceset_faces_are_detected(faces, detector):
    """Every generated image holds one face that dlib's HOG detector finds (no fallback)."""
    from interpface.faces.images import load_image

    for rec in faces.records:
        det = detector.detect(load_image(faces.path(rec.relpath)))
        assert det.status == "ok" and det.n_faces == 1, rec.relpath


def test_faceset_is_deterministic(tmp_path, faces):
    from tests.faceset import build_faceset

    again = build_faceset(tmp_path)
    for rec in faces.records[::5]:
        assert (again / "lfw" / "lfw-deepfunneled-160" / rec.relpath).read_bytes() == faces.path(
            rec.relpath
        ).read_bytes()


def test_generic_pairs_file(tmp_path):
    f = tmp_path / "pairs.tsv"
    f.write_text("# comment\nA/a.jpg\tB/b.jpg\t0\nA/a.jpg\tA/c.jpg\t1\n")
    pairs = read_pairs_file(f)
    assert [(q.a, q.b, q.same) for q in pairs] == [("A/a.jpg", "B/b.jpg", False), ("A/a.jpg", "A/c.jpg", True)]
    with pytest.raises(DatasetError, match="3 file"):
        check_pairs_exist(pairs, tmp_path)
    f.write_text("A/a.jpg B/b.jpg 0\n")
    with pytest.raises(DatasetError, match="expected"):
        read_pairs_file(f)


def test_malformed_lfw_pairs(tmp_path):
    f = tmp_path / "pairs.txt"
    f.write_text("1 2\nA 1 2\n")
    with pytest.raises(DatasetError, match="malformed"):
        read_lfw_pairs(f)


def test_folder_dataset_and_250px_layout(tmp_path):
    """Any folder-per-identity dataset, and LFW's original 250x250 images (padded back here)."""
    import numpy as np
    from PIL import Image

    for person in ("Ann", "Bob"):
        (tmp_path / person).mkdir()
        for k in (1, 2):
            Image.fromarray(np.zeros((250, 250, 3), np.uint8)).save(tmp_path / person / f"{person}_{k:04d}.jpg")
    (tmp_path / "notes.txt").write_text("not an identity folder")
    ds = scan_identity_folders(tmp_path)
    assert [r.relpath for r in ds.records] == [
        "Ann/Ann_0001.jpg",
        "Ann/Ann_0002.jpg",
        "Bob/Bob_0001.jpg",
        "Bob/Bob_0002.jpg",
    ]
    assert ds.identities == ["Ann", "Bob"]


def test_shared_data_lookup_can_be_switched_off(monkeypatch):
    from interpface.faces.datasets import _repo_shared_data

    monkeypatch.setenv("INTERPFACE_NO_SHARED_DATA", "1")
    assert _repo_shared_data() == []
    monkeypatch.setenv("INTERPFACE_NO_SHARED_DATA", "0")
    assert len(_repo_shared_data()) == 2


def test_data_root_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERPFACE_DATA", str(tmp_path))
    assert resolve_data_root() == tmp_path.resolve()
    assert resolve_data_root(tmp_path) == tmp_path.resolve()
    monkeypatch.setenv("INTERPFACE_DATA", str(tmp_path / "nope"))
    with pytest.raises(DatasetError, match="get LFW"):
        resolve_data_root()
    with pytest.raises(DatasetError, match="get LFW"):
        resolve_data_root(tmp_path / "nope")
