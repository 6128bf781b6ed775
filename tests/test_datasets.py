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


# -- bad input: what a folder holds besides one clean image per file ---------------------------------
def _messy_folder(root, faces):
    """A folder per identity with everything a real folder has: a text file, a hidden file, an empty
    identity folder, a nested session folder, a one-image identity, a duplicate and a loose image."""
    import shutil

    src = [faces.path(r.relpath) for r in faces.records]
    for person, k in (("Ann", 3), ("Bob", 1)):
        (root / person).mkdir(parents=True)
        for i in range(k):
            shutil.copy(src[i if person == "Ann" else 10], root / person / f"{i}.jpg")
    (root / "Ann" / "session 2").mkdir()
    shutil.copy(src[5], root / "Ann" / "session 2" / "late.png")
    shutil.copy(src[0], root / "Bob" / "copy of ann.jpg")  # the same bytes as Ann/0.jpg
    (root / "Ann" / "notes.txt").write_text("not an image")
    (root / "Ann" / ".DS_Store").write_bytes(b"\0")
    (root / "Empty").mkdir()
    shutil.copy(src[3], root / "loose.jpg")
    return root


def test_a_messy_folder_is_scanned_with_counts(tmp_path, faces):
    from interpface.faces.datasets import duplicates_line, find_duplicates

    ds = scan_identity_folders(_messy_folder(tmp_path / "messy", faces))
    assert [r.relpath for r in ds.records] == [
        "Ann/0.jpg",
        "Ann/1.jpg",
        "Ann/2.jpg",
        "Ann/session 2/late.png",
        "Bob/0.jpg",
        "Bob/copy of ann.jpg",
    ]
    assert ds.identities == ["Ann", "Bob"] and ds.has_identities and ds.singletons == []
    assert ds.scan.non_images == ["Ann/notes.txt"] and ds.scan.loose_images == ["loose.jpg"]
    assert ds.scan.empty_folders == ["Empty"] and ds.scan.nested_images == 1
    lines = ds.scan.lines()
    assert len(lines) == 4 and lines[0].startswith("1 file(s) that are not images skipped")
    assert find_duplicates(ds) == [["Ann/0.jpg", "Bob/copy of ann.jpg"]]
    assert "1 group(s) of identical files (2 images" in duplicates_line(find_duplicates(ds))


def test_a_flat_folder_is_a_dataset_without_identities(tmp_path, faces):
    import shutil

    from interpface.faces.datasets import load_dataset

    (tmp_path / "flat" / "unrelated").mkdir(parents=True)
    for r in faces.records[:3]:
        shutil.copy(faces.path(r.relpath), tmp_path / "flat" / r.relpath.split("/")[1])
    (tmp_path / "flat" / "readme.md").write_text("x")
    ds = load_dataset(f"folder:{tmp_path / 'flat'}")
    assert not ds.has_identities and ds.identities == [] and len(ds) == 3
    assert {r.identity for r in ds.records} == {""} and ds.scan.non_images == ["readme.md"]
    assert "no identities" in ds.summary()


def test_an_empty_folder_says_what_it_found(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="it is empty"):
        scan_identity_folders(tmp_path / "empty")
    (tmp_path / "empty" / "A").mkdir()
    (tmp_path / "empty" / "A" / "x.txt").write_text("x")
    (tmp_path / "empty" / "list.csv").write_text("x")
    with pytest.raises(DatasetError, match=r"2 file\(s\) that are not images .* and 1 folder\(s\) without images"):
        scan_identity_folders(tmp_path / "empty")
    with pytest.raises(DatasetError, match="folder: needs a path"):
        from interpface.faces.datasets import load_dataset

        load_dataset("folder:")


def test_one_image_identities_are_counted(tmp_path, faces):
    import shutil

    for person, n in (("A", 2), ("B", 1), ("C", 1)):
        (tmp_path / person).mkdir()
        for i in range(n):
            shutil.copy(faces.path(faces.records[i].relpath), tmp_path / person / f"{i}.jpg")
    ds = scan_identity_folders(tmp_path)
    assert ds.singletons == ["B", "C"] and "(2 with a single image: no genuine pair)" in ds.summary()


def test_pairs_naming_files_not_in_the_dataset():
    from interpface.faces.datasets import Pair, check_pairs_in_dataset

    known = ["A/1.jpg", "A/2.jpg", "B/1.jpg"]
    ok = check_pairs_in_dataset([Pair("./A/1.jpg", "A/2.jpg", True), Pair("/data/x/B/1.jpg", "A\\1.jpg", False)],
                                known, image_dir="/data/x")  # fmt: skip
    assert [(q.a, q.b) for q in ok] == [("A/1.jpg", "A/2.jpg"), ("B/1.jpg", "A/1.jpg")]
    bad = [Pair("A/1.jpg", "C/1.jpg", True), Pair("C/1.jpg", "D/1.jpg", False), Pair("A/1.jpg", "B/1.jpg", False)]
    with pytest.raises(
        DatasetError, match=r"2 of 3 pairs name 2 image\(s\) that are not in the dataset: C/1.jpg, D/1.jpg"
    ):
        check_pairs_in_dataset(bad, known)


def test_identity_pairs_are_seeded_balanced_and_need_identities():
    from interpface.errors import NoIdentitiesError, NoPairsError
    from interpface.faces.sources import identity_pairs

    rel = [f"{p}/{i}.jpg" for p in "ABCD" for i in range(3)]
    ids = [r[0] for r in rel]
    pairs = identity_pairs(rel, ids, 5, seed=1)
    same = [q for q in pairs if q.same]
    assert len(same) == 5 and len(pairs) == 10 and pairs[:5] == same
    assert all(q.a[0] == q.b[0] for q in same) and all(q.a[0] != q.b[0] for q in pairs[5:])
    assert len({(q.a, q.b) for q in pairs}) == 10 and identity_pairs(rel, ids, 5, seed=1) == pairs
    assert sum(q.same for q in identity_pairs(rel, ids, 1000)) == 4 * 3  # every genuine pair there is
    with pytest.raises(NoIdentitiesError, match="no identities"):
        identity_pairs(rel, [""] * len(rel), 5)
    with pytest.raises(NoPairsError, match="none of the 2 identities has two usable images"):
        identity_pairs(["A/1.jpg", "B/1.jpg"], ["A", "B"], 5)


# -- metadata CSV -----------------------------------------------------------------------------------
def test_metadata_csv_matches_the_dataset_and_counts_the_rest(tmp_path):
    from interpface.faces.datasets import read_metadata_csv

    known = ["Ann/0.jpg", "Ann/1.jpg", "Bob/0.jpg"]
    f = tmp_path / "meta.csv"
    f.write_text(
        "\ufeffoccluder,Path,pose\n"  # a BOM (Excel), the path column not first, any case
        "mask,Ann/0.jpg,frontal\n"
        "none,./Ann/1.jpg,profile\n"
        "mask,Ann/0.jpg,frontal\n"  # listed twice
        "none,Carl/9.jpg,frontal\n"  # not in the dataset
    )
    meta = read_metadata_csv(f, known)
    assert meta.path_column == "Path" and meta.columns == ["occluder", "pose"]
    assert meta.column("occluder", known) == ["mask", "none", None]
    assert meta.unknown == ["Carl/9.jpg"] and meta.repeated == ["Ann/0.jpg"] and meta.n_unlisted == 1
    assert [line.split(" ")[0] for line in meta.lines()] == ["1", "1", "1"]
    f.write_text("image;group\nAnn/0.jpg;a\nBob/0.jpg;b\n")  # semicolons
    assert read_metadata_csv(f, known).values == {"Ann/0.jpg": {"group": "a"}, "Bob/0.jpg": {"group": "b"}}
    with pytest.raises(DatasetError, match="no metadata column 'age'"):
        read_metadata_csv(f, known).column("age", known)


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "empty metadata file"),
        ("path\nAnn/0.jpg\n", "at least one attribute"),
        ("path,group\nAnn/0.jpg,a,extra\n", r"1 row\(s\) do not have the header's 2 fields \(data rows \[1\]\)"),
        ("path,group\nX/0.jpg,a\nY/1.jpg,b\n", "none of its 2 row.* names an image of the dataset .*e.g. X/0.jpg"),
    ],
)
def test_metadata_csv_errors(tmp_path, text, match):
    from interpface.faces.datasets import read_metadata_csv

    f = tmp_path / "m.csv"
    f.write_text(text)
    with pytest.raises(DatasetError, match=match):
        read_metadata_csv(f, ["Ann/0.jpg"])
    with pytest.raises(DatasetError, match="metadata file missing"):
        read_metadata_csv(tmp_path / "nope.csv", ["Ann/0.jpg"])
