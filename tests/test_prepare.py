"""`data prepare` on a small folder dataset: statuses, resume after a crash, atomic files."""

import json
import shutil

import numpy as np
import pytest

import interpface.faces.prepare as prep
from interpface.faces.datasets import scan_identity_folders
from interpface.faces.prepare import PreparedDataset, prepare_dataset

PEOPLE = {"Long_Astronaut": 1, "Grace_Hopper": 4, "Eileen_Collins": 3}


@pytest.fixture
def small_dataset(tmp_path, faces):
    root = tmp_path / "faces"
    for person, n in PEOPLE.items():
        (root / person).mkdir(parents=True)
        for k in range(1, n + 1):
            name = f"{person}_{k:04d}.jpg"
            shutil.copy(faces.path(f"{person}/{name}"), root / person / name)
    (root / "Grace_Hopper" / "Grace_Hopper_9999.jpg").write_bytes(b"garbage")  # one bad image
    (root / "Eileen_Collins" / "Eileen_Collins_0099.png").write_bytes(b"")  # and an empty one
    return scan_identity_folders(root, name="small")


def test_prepare_statuses_and_reader(small_dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(prep, "CHUNK_SIZE", 3)
    report = prepare_dataset(small_dataset, cache_dir=tmp_path / "cache", workers=2, progress=False)
    assert report.n_images == 10
    assert report.counts["failed"] == 2
    assert report.counts["ok"] + report.counts["multiple"] + report.counts["fallback"] == 8
    assert report.failures == {"ImageDecodeError": 2}
    ds = PreparedDataset(report.cache_dir)
    assert ds.crops.shape == (10, 110, 110, 3) and ds.crops.dtype == np.uint8
    assert ds.usable().sum() == 8
    rows = ds.rows(["Grace_Hopper/Grace_Hopper_0002.jpg"])
    assert ds.identities[rows[0]] == "Grace_Hopper"
    assert np.isfinite(ds.landmarks[ds.usable()]).all()
    # which detector found each face, and the landmark-fit score, recorded per image
    index = json.loads((ds.directory / "index.json").read_text())
    assert all("detector" in e and "fit_residual" in e for e in index["images"])
    assert sum(report.detectors.values()) == 8 and set(ds.detectors) <= {"hog", "mmod", "fallback", "none"}
    assert np.isfinite(ds.fit_residual[ds.usable()]).all() and (ds.fit_residual[ds.usable()] < 7.5).all()
    assert ds.usable(max_fit_residual=0.0).sum() == 0 and ds.usable(max_fit_residual=7.5).sum() == 8
    assert not list((tmp_path / "cache").rglob(".*tmp*"))  # no temporary files left behind


def test_prepare_resumes_after_crash(small_dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(prep, "CHUNK_SIZE", 3)
    clean = prepare_dataset(small_dataset, cache_dir=tmp_path / "a", workers=1, progress=False)

    real = prep._detect_chunk
    calls = []

    def crash_on_third(job):
        calls.append(job)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as if killed mid-run
        return real(job)

    monkeypatch.setattr(prep, "_detect_chunk", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(small_dataset, cache_dir=tmp_path / "b", workers=1, progress=False)
    done = sorted(p.name for p in (tmp_path / "b").rglob("detect/chunk_*.npz"))
    assert done == ["chunk_00000.npz", "chunk_00001.npz"]

    calls.clear()
    monkeypatch.setattr(prep, "_detect_chunk", lambda job: (calls.append(job), real(job))[1])
    resumed = prepare_dataset(small_dataset, cache_dir=tmp_path / "b", workers=1, progress=False)
    assert len(calls) == 2  # only the two unfinished chunks (of 4) were detected again
    a, b = PreparedDataset(clean.cache_dir), PreparedDataset(resumed.cache_dir)
    assert np.array_equal(a.crops, b.crops) and np.array_equal(a.status, b.status)

    calls.clear()
    prepare_dataset(small_dataset, cache_dir=tmp_path / "b", workers=1, progress=False)
    assert calls == []  # a finished cache is not recomputed


def test_limit(small_dataset, tmp_path):
    report = prepare_dataset(small_dataset, cache_dir=tmp_path / "c", workers=1, limit=4, progress=False)
    assert report.n_images == 4
    index = json.loads((tmp_path / "c").glob("prepared/*/aligned-*/index.json").__next__().read_text())
    assert len(index["images"]) == 4


def test_a_messy_folder_prepares_with_counts_and_keeps_what_is_prepared(tmp_path, faces, capsys):
    """Bad input through `data prepare`: non-images, a duplicate, a nested folder, a one-image identity,
    an empty folder, undecodable / grey / transparent images. Counts, no crash; a later --limit run
    does not shrink the finished cache."""
    from PIL import Image

    from interpface.cli.main import main
    from tests.test_datasets import _messy_folder

    root = _messy_folder(tmp_path / "messy", faces)
    Image.open(faces.path(faces.records[7].relpath)).convert("L").save(root / "Bob" / "grey.png")
    Image.open(faces.path(faces.records[8].relpath)).convert("RGBA").save(root / "Bob" / "alpha.png")
    (root / "Bob" / "fake.png").write_text("text named like an image")
    (root / "Solo").mkdir()
    (root / "Solo" / "only.jpg").write_bytes(faces.path(faces.records[12].relpath).read_bytes())
    cache = tmp_path / "cache"
    args = ["data", "prepare", "--dataset", f"folder:{root}", "--cache-dir", str(cache), "--workers", "1", "--quiet"]
    assert main(args + ["--json", str(tmp_path / "p.json")]) == 0
    out = capsys.readouterr().out
    assert "messy: 10 images of 3 identities (1 with a single image: no genuine pair)" in out
    for line in ("1 file(s) that are not images skipped", "1 image(s) directly in the folder", "1 folder(s) without",
                 "1 image(s) in nested folders", "1 group(s) of identical files (2 images"):  # fmt: skip
        assert line in out, line
    report = json.loads((tmp_path / "p.json").read_text())
    assert (
        report["n_images"] == 10 and report["counts"]["failed"] == 1 and report["failures"] == {"ImageDecodeError": 1}
    )
    assert len(report["notes"]) == 5
    ds = PreparedDataset(report["cache_dir"])
    assert ds.usable().sum() == 9 and ds.status[ds.rows(["Bob/fake.png"])[0]] == "failed"
    # a run on the first few images keeps the whole cache (nothing prepared is lost)
    assert main(args + ["--limit", "2"]) == 0
    assert len(PreparedDataset(report["cache_dir"])) == 10
    assert main(["data", "info", "--dataset", f"folder:{root}", "--cache-dir", str(cache)]) == 0
    assert "identities_with_one_image: 1" in capsys.readouterr().out


def test_pairs_of_a_partly_prepared_folder(small_dataset, tmp_path):
    """A pairs file against a folder prepared with --limit: pairs with an image not prepared yet are left
    out and counted; an image that is not in the folder at all stops with counts; a face not found too."""
    from interpface.errors import DatasetError, NoPairsError
    from interpface.faces.sources import dataset_pairs, open_prepared

    prepare_dataset(small_dataset, cache_dir=tmp_path / "c", workers=1, limit=6, progress=False)
    ds, cache = open_prepared(small_dataset, cache_dir=tmp_path / "c")
    f = tmp_path / "pairs.tsv"
    f.write_text(
        "Grace_Hopper/Grace_Hopper_0001.jpg\tGrace_Hopper/Grace_Hopper_0002.jpg\t1\n"  # both prepared
        "Eileen_Collins/Eileen_Collins_0001.jpg\tGrace_Hopper/Grace_Hopper_0004.jpg\t0\n"  # Grace 4: not yet
        "Eileen_Collins/Eileen_Collins_0099.png\tEileen_Collins/Eileen_Collins_0001.jpg\t0\n"  # an empty file
    )
    dp = dataset_pairs(ds, cache, f)
    assert len(dp) == 1 and dp.pairs[0].same and sum(dp.dropped.values()) == 2, dp.dropped
    assert "not in the prepared cache" in dp.note() and "no face found" in dp.note()
    f.write_text("Grace_Hopper/Grace_Hopper_0001.jpg\tNobody/x.jpg\t1\n")
    with pytest.raises(DatasetError, match=r"1 of 1 pairs name 1 image\(s\) that are not in the dataset small"):
        dataset_pairs(ds, cache, f)
    f.write_text("Grace_Hopper/Grace_Hopper_9999.jpg\tGrace_Hopper/Grace_Hopper_0001.jpg\t1\n")  # garbage bytes
    with pytest.raises(NoPairsError, match="no usable pair among the 1 pairs file"):
        dataset_pairs(ds, cache, f)
