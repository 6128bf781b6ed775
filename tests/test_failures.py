"""Failure analysis: head pose and picture quality (faces floor), slice rates with bootstrap intervals,
find_failures and `interpface failures` on the face set (and on real LFW DevTest images when present)."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from interpface.cli.main import main
from interpface.errors import ConfigError, DatasetError, NoIdentitiesError
from interpface.evaluation.slices import ErrorRows, PairLayout, Slice, bin_numeric, image_slices, slice_rates
from interpface.faces.pose import MODEL_INDICES, MODEL_POINTS, head_pose, rotation
from interpface.faces.quality import face_size, sharpness
from tests.conftest import NEEDS_LFW as NO_LFW  # the one skip reason: no LFW on this machine

FOLDER_IMAGES = "lfw/lfw-deepfunneled-160"


# ------------------------------------------------------------------------------------------- pose
@pytest.mark.parametrize("angles", [(0, 0, 0), (20, -10, 5), (-35, 15, -12), (50, 5, 30)])
def test_head_pose_recovers_a_projected_rotation(angles):
    """The generic face rotated by known angles and projected by a known pinhole camera comes back."""
    points = MODEL_POINTS @ rotation(*angles).T + [30.0, -20.0, 3000.0]
    uv = points[:, :2] / points[:, 2:] * 800.0 + 200.0
    landmarks = np.tile(uv.mean(0), (68, 1))
    landmarks[MODEL_INDICES] = uv
    assert np.allclose(head_pose(landmarks, focal=800.0, centre=(200.0, 200.0)), angles, atol=1e-3)


def test_head_pose_of_real_faces(detector, face_rgb):
    """A mirror image flips yaw and roll; turning the picture 15 degrees counter-clockwise moves the roll
    by about -15 degrees; NaN landmarks give NaN."""
    lm = detector.detect(face_rgb).landmarks
    yaw, pitch, roll = head_pose(lm)
    m_yaw, m_pitch, m_roll = head_pose(detector.detect(np.ascontiguousarray(face_rgb[:, ::-1])).landmarks)
    assert (
        abs(yaw + m_yaw) < 5 and abs(roll + m_roll) < 5 and abs(pitch - m_pitch) < 5
    )  # the 68-point fit is not mirror-exact
    h, w = face_rgb.shape[:2]
    turned = cv2.warpAffine(face_rgb, cv2.getRotationMatrix2D((w / 2, h / 2), 15, 1.0), (w, h))
    assert abs(head_pose(detector.detect(turned).landmarks)[2] - (roll - 15)) < 4
    both = head_pose(np.stack([lm, np.full((68, 2), np.nan)]))
    assert np.isfinite(both[0]).all() and np.isnan(both[1]).all()


def test_face_size_and_sharpness(face_rgb):
    square = np.array([[0, 0], [40, 0], [40, 10], [0, 10]] * 17, np.float64)
    assert face_size(square) == pytest.approx(20.0)
    assert face_size(np.stack([square, 3 * square])) == pytest.approx([20.0, 60.0])
    crop = cv2.resize(face_rgb, (110, 110))
    blurred = cv2.GaussianBlur(crop, (0, 0), 2.0)
    assert sharpness(crop) > 3 * sharpness(blurred)
    assert sharpness(np.stack([crop, blurred])).shape == (2,)


# ----------------------------------------------------------------------------------------- slices
def test_bin_numeric_and_image_slices():
    idx, labels = bin_numeric(np.array([0.0, 1, 2, 3, 4, 5, 6, 7, np.nan]), 4)
    assert labels[0].startswith("[0,") and labels[-1].endswith("7]") and len(labels) == 4
    assert idx[-1] == -1 and list(idx[:8]) == [0, 0, 1, 1, 2, 2, 3, 3]
    cols = {"yaw": list(np.linspace(-30, 30, 20)), "detector": ["hog"] * 15 + ["mmod"] * 4 + [None], "n": [1, 2] * 10}
    slices = image_slices(cols, n_bins=4)
    names = {(s.column, s.value) for s in slices}
    assert (
        ("detector", "hog") in names
        and ("detector", "mmod") in names
        and len([s for s in slices if s.column == "yaw"]) == 4
    )
    assert {("n", "1"), ("n", "2")} <= names  # few distinct numbers: one slice each
    assert sum(s.images.sum() for s in slices if s.column == "yaw") == 20


def _toy(rng, n_ids=7, per=4):
    groups = np.repeat(np.arange(n_ids), per)
    m = len(groups)
    iu, ju = np.triu_indices(m, 1)
    scores = rng.normal(0.0, 1.0, len(iu)) + 2.0 * (groups[iu] == groups[ju])
    return groups, iu, ju, scores


def test_slice_rates_all_pairs_equal_the_explicit_pairs(rng):
    """The all-pairs layout (totals from per-identity counts) and the same pairs listed one by one give
    the same counts, rates and intervals, for both memberships and two conditions."""
    groups, iu, ju, scores = _toy(rng)
    m = len(groups)
    usable = np.ones(m, bool)
    usable[5] = False
    keep = usable[iu] & usable[ju]
    same = groups[iu] == groups[ju]
    cols = {"x": list(rng.normal(size=m)), "c": list(rng.choice(["a", "b"], size=m))}
    slices = image_slices(cols, n_bins=3) + [Slice("condition", "occ", "condition", None, condition=1)]
    errors = {}
    for key, thr in (("t1", 0.8), ("t2", 1.5)):
        a, b, c, g = [], [], [], []
        for k, shift in enumerate((0.0, -0.5)):  # the second condition lowers every score
            s = scores + shift
            wrong = keep & np.where(same, s < thr, s >= thr)
            a.append(iu[wrong]), b.append(ju[wrong]), c.append(np.full(wrong.sum(), k)), g.append(same[wrong])
        errors[key] = ErrorRows(*(np.concatenate(x) for x in (a, b, c, g)))
    for membership in ("any", "both"):
        implicit = slice_rates(PairLayout(groups, usable, 2), slices, errors, membership=membership, n_resamples=30)
        explicit = slice_rates(
            PairLayout(groups, usable, 2, iu, ju, same), slices, errors, membership=membership, n_resamples=30
        )
        assert implicit["whole"] == explicit["whole"]
        for key in errors:
            for x, y in zip(implicit["slices"][key], explicit["slices"][key]):
                assert x.keys() == y.keys()
                for k in x:
                    if isinstance(x[k], float):
                        assert x[k] == pytest.approx(y[k], abs=1e-12), (k, x, y)
                    elif isinstance(x[k], list):
                        assert x[k] == pytest.approx(y[k], abs=1e-12), (k, x, y)
                    else:
                        assert x[k] == y[k], (k, x, y)


def test_slice_rates_point_estimates_by_hand(rng):
    """FRR / FAR of a slice and of the whole set counted pair by pair; worst slice first; a slice with
    fewer than min_pairs pairs has no rate."""
    groups, iu, ju, scores = _toy(rng, n_ids=6, per=3)
    m = len(groups)
    same = groups[iu] == groups[ju]
    flag = np.zeros(m, bool)
    flag[[0, 1, 4, 9]] = True
    thr = 1.0
    wrong = np.where(same, scores < thr, scores >= thr)
    err = ErrorRows(iu[wrong], ju[wrong], np.zeros(wrong.sum(), np.int64), same[wrong])
    sl = [Slice("flag", "yes", "category", flag), Slice("flag", "no", "category", ~flag)]
    out = slice_rates(PairLayout(groups, np.ones(m, bool)), sl, {"k": err}, n_resamples=20, min_pairs=1)
    inside = flag[iu] | flag[ju]
    rows = {r["value"]: r for r in out["slices"]["k"]}
    assert rows["yes"]["frr"] == pytest.approx((wrong & same & inside).sum() / (same & inside).sum())
    assert rows["yes"]["far"] == pytest.approx((wrong & ~same & inside).sum() / (~same & inside).sum())
    assert rows["yes"]["n_genuine"] == (same & inside).sum() and rows["yes"]["n_impostor"] == (~same & inside).sum()
    assert out["whole"]["k"]["frr"] == pytest.approx((wrong & same).sum() / same.sum())
    assert out["slices"]["k"][0]["frr"] >= out["slices"]["k"][1]["frr"]
    assert out["kind"] == "identity cluster bootstrap"
    lo, hi = out["whole"]["k"]["frr_ci"]
    assert lo <= hi
    few = slice_rates(PairLayout(groups, np.ones(m, bool)), sl, {"k": err}, n_resamples=5, min_pairs=10**6)
    assert all(r["frr"] is None and not r["frr_beyond"] for r in few["slices"]["k"])
    with pytest.raises(ConfigError):
        slice_rates(PairLayout(groups, np.ones(m, bool)), sl, {"k": err}, membership="some")


def test_pairs_without_identities_use_a_pair_bootstrap(rng):
    a, b = np.array([0, 1, 2, 3]), np.array([1, 2, 3, 0])
    same = np.array([True, False, True, False])
    err = ErrorRows(np.array([0]), np.array([1]), np.array([0]), np.array([True]))
    out = slice_rates(
        PairLayout(None, np.ones(4, bool), 1, a, b, same),
        [Slice("c", "x", "category", np.array([True, True, False, False]))],
        {"k": err},
        n_resamples=10,
        min_pairs=1,
        error_pair_index={"k": np.array([0])},
    )
    assert out["kind"] == "pair bootstrap" and out["whole"]["k"]["frr"] == pytest.approx(0.5)


# ------------------------------------------------------------------------------- on the face set
@pytest.fixture(scope="module")
def folder(tmp_path_factory, faces_root):
    """(dataset spec, cache dir): the face set's images as a folder-per-identity dataset, prepared."""
    from interpface.faces.datasets import load_dataset
    from interpface.faces.prepare import prepare_dataset

    cache = tmp_path_factory.mktemp("failures_cache")
    spec = f"folder:{faces_root / FOLDER_IMAGES}"
    prepare_dataset(load_dataset(spec), cache_dir=cache, workers=1, progress=False)
    return spec, cache


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from interpface.models.checkpoint import save_checkpoint
    from tests.tiny import tiny_model

    net = tiny_model(0, he_init=True)
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    save_checkpoint(path, net, model_config=net.config, extra={})
    return path


@pytest.fixture(scope="module")
def report(folder, tiny):
    from interpface.evaluation.failures import find_failures
    from interpface.models.registry import resolve_model

    spec, cache = folder
    return find_failures(
        resolve_model(tiny),
        spec,
        cache_dir=cache,
        fars=(0.01, 0.1),
        conditions=("clean", "sunglasses"),
        n_bootstrap=20,
        min_pairs=3,
        top=500,
    )


def test_find_failures_counts_and_ranks_every_mistake(report):
    """Every pair of the 24 faces scored under both conditions; each FAR's threshold is the clean ROC's;
    the listed mistakes are exactly the pairs on the wrong side of it, largest margin first."""
    import interpface.evaluation.metrics as M

    info = report.info
    assert info["protocol"] == "all-pairs" and info["n_usable"] == 24 and info["n_pairs"] == 24 * 23 // 2
    assert info["n_genuine"] == 45 and info["conditions"] == ["clean", "sunglasses"]
    emb = report.embeddings
    ids = np.array(report.images["identities"])
    iu, ju = np.triu_indices(24, 1)
    clean = np.einsum("nd,nd->n", emb[iu], emb[ju])
    same = ids[iu] == ids[ju]
    for key in info["far_keys"]:
        f = report.fars[key]
        thr = M.verification_metrics(clean, same, [f["far"]])["threshold_at_far"][key]
        assert f["threshold"] == pytest.approx(thr, abs=1e-6)
        fa = int(((clean >= thr) & ~same).sum())
        assert f["by_condition"]["clean"]["n_false_accepts"] == fa
        assert f["by_condition"]["clean"]["n_false_rejects"] == int(((clean < thr) & same).sum())
        assert len(f["false_accepts"]) == f["n_false_accepts"] and len(f["false_rejects"]) == f["n_false_rejects"]
        for kind in ("false_accepts", "false_rejects"):
            margins = [r["margin"] for r in f[kind]]
            assert margins == sorted(margins, reverse=True) and all(m >= 0 for m in margins)
            for r in f[kind]:
                assert (r["identity_a"] == r["identity_b"]) == (kind == "false_rejects")
                assert r["detector_a"] in ("hog", "mmod", "hog_relaxed", "fallback") and r["fit_residual_a"] > 0
        whole = report.slices["whole"][key]
        assert whole["n_false_rejects"] == f["n_false_rejects"] and whole["n_genuine"] == 2 * 45
    columns = report.images["columns"]
    assert {"detector", "fit residual", "yaw", "pitch", "roll", "face size", "sharpness"} <= set(columns)
    sliced = {s["column"] for s in report.slices["slices"][info["far_keys"][0]]}
    assert {"condition", "yaw", "sharpness", "face size"} <= sliced
    assert report.thumbnails.shape == (24, 56, 56, 3) and report.thumbnails.max() > 0


def test_report_saves_and_loads_without_pickle(report, tmp_path):
    from interpface.evaluation.failures import FailureReport

    report.save(tmp_path / "r")
    back = FailureReport.load(tmp_path / "r")
    assert back.info["thresholds"] == report.info["thresholds"]
    assert back.fars["0.1"]["false_accepts"] == report.fars["0.1"]["false_accepts"]
    assert np.array_equal(back.thumbnails, report.thumbnails)
    assert np.allclose(back.embeddings, report.embeddings, equal_nan=True)
    assert back.position(report.images["keys"][3]) == 3


def test_metadata_columns_become_slices(folder, tiny, tmp_path):
    from interpface.evaluation.failures import find_failures
    from interpface.faces.datasets import load_dataset
    from interpface.models.registry import resolve_model

    spec, cache = folder
    ds = load_dataset(spec)
    rows = ["image,site,age"] + [
        f"{r.relpath},{'north' if i % 3 else 'south'},{20 + 2 * i}" for i, r in enumerate(ds.records)
    ]
    (tmp_path / "meta.csv").write_text("\n".join(rows) + "\n")
    out = find_failures(
        resolve_model(tiny), spec, cache_dir=cache, fars=(0.1,), metadata=tmp_path / "meta.csv", n_bootstrap=5
    )
    sliced = {(s["column"], s["value"]) for s in out.slices["slices"]["0.1"]}
    assert ("meta:site", "north") in sliced and ("meta:site", "south") in sliced
    assert len([s for s in sliced if s[0] == "meta:age"]) == 4  # numeric: quantile bins
    (tmp_path / "bad.csv").write_text("\n".join([rows[0], "Nobody/nobody_0001.jpg,north,30", rows[1]]) + "\n")
    with pytest.raises(DatasetError, match="not in the dataset"):
        find_failures(resolve_model(tiny), spec, cache_dir=cache, fars=(0.1,), metadata=tmp_path / "bad.csv")


def test_bad_input_is_a_typed_error(folder, tiny, tmp_path, faces_root):
    from interpface.evaluation.failures import find_failures
    from interpface.faces.datasets import load_dataset
    from interpface.faces.prepare import prepare_dataset
    from interpface.models.registry import resolve_model

    spec, cache = folder
    model = resolve_model(tiny)
    (tmp_path / "pairs.txt").write_text("Grace_Hopper/Grace_Hopper_0001.jpg\tNobody/x.jpg\t0\n")
    with pytest.raises(DatasetError, match="Nobody/x.jpg"):
        find_failures(model, spec, cache_dir=cache, pairs=tmp_path / "pairs.txt")
    with pytest.raises(ConfigError):
        find_failures(model, spec, cache_dir=cache, protocol="lfw-devtest")
    with pytest.raises(ConfigError):
        find_failures(model, spec, cache_dir=cache, fars=(2.0,))
    flat = tmp_path / "flat"
    flat.mkdir()
    for p in sorted((faces_root / FOLDER_IMAGES).glob("*/*.jpg"))[:4]:
        shutil.copy(p, flat / p.name)
    prepare_dataset(load_dataset(f"folder:{flat}"), cache_dir=cache, workers=1, progress=False)
    with pytest.raises(NoIdentitiesError):
        find_failures(model, f"folder:{flat}", cache_dir=cache)


def test_pairs_file_on_the_folder(folder, tiny, tmp_path):
    from interpface.evaluation.failures import find_failures
    from interpface.models.registry import resolve_model

    spec, cache = folder
    lines = [
        f"Grace_Hopper/Grace_Hopper_000{i}.jpg\tGrace_Hopper/Grace_Hopper_000{i + 1}.jpg\t1" for i in range(1, 6)
    ] + [f"Grace_Hopper/Grace_Hopper_000{i}.jpg\tWide_Astronaut/Wide_Astronaut_000{i}.jpg\t0" for i in range(1, 5)]
    (tmp_path / "p.txt").write_text("\n".join(lines) + "\n")
    out = find_failures(
        resolve_model(tiny), spec, cache_dir=cache, pairs=tmp_path / "p.txt", fars=(0.3,), n_bootstrap=5
    )
    assert out.info["protocol"] == "pairs:p.txt" and out.info["n_pairs"] == 9 and out.info["n_genuine"] == 5
    assert out.slices["kind"] == "identity cluster bootstrap"


# -------------------------------------------------------------------------------------------- CLI
def test_cli_failures_on_the_folder(folder, tiny, tmp_path, capsys):
    spec, cache = folder
    rc = main(
        [
            "failures",
            "--checkpoint",
            str(tiny),
            "--dataset",
            spec,
            "--cache-dir",
            str(cache),
            "--far",
            "1e-2,1e-1",
            "--condition",
            "clean,mask",
            "--min-pairs",
            "3",
            "--bootstrap",
            "10",
            "--quiet",
            "--json",
            str(tmp_path / "f.json"),
            "--html",
            str(tmp_path / "f.html"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "FAR 0.01: threshold" in out and "worst slices by FRR" in out and "by condition: clean" in out
    data = json.loads((tmp_path / "f.json").read_text())
    assert data["far_keys"] == ["0.01", "0.1"] and data["images"]["keys"]
    page = (tmp_path / "f.html").read_text()
    assert "False accepts" in page and "data:image/png;base64," in page and "https://" not in page.split("<body>")[1]


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--far", "0.5,abc"], "--far"),
        (["--protocol", "lfw-view2"], "LFW's"),
        (["--condition", "natural"], "natural"),
    ],
)
def test_cli_bad_input_is_one_line(folder, tiny, capsys, extra, message):
    spec, cache = folder
    rc = main(["failures", "--checkpoint", str(tiny), "--dataset", spec, "--cache-dir", str(cache), "--quiet", *extra])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_cli_unprepared_dataset_says_what_to_run(tiny, tmp_path, faces_root, capsys):
    rc = main(
        [
            "failures",
            "--checkpoint",
            str(tiny),
            "--dataset",
            f"folder:{faces_root / FOLDER_IMAGES}",
            "--cache-dir",
            str(tmp_path / "empty"),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "interpface data prepare" in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------ real LFW
def test_cli_failures_on_lfw_devtest(tmp_path_factory, tiny, capsys):
    """On real LFW images in the LFW layout (a DevTest of six people, four of them with Kumar et al.'s
    attribute scores): the lfw-devtest protocol, LFW attribute slices and the dashboard's report."""
    from interpface.errors import DatasetError as _DatasetError
    from interpface.faces.datasets import load_lfw
    from tests.tiny import prepared_mini_lfw

    try:
        lfw = load_lfw()
    except _DatasetError:
        pytest.skip(NO_LFW)
    people = {
        "Alvaro_Uribe": 5,
        "Amelie_Mauresmo": 5,
        "Gray_Davis": 5,
        "Winona_Ryder": 5,
        "Abdullah_Gul": 4,
        "Zhu_Rongji": 4,
    }
    missing = [p for p in people if not (lfw.image_dir / p).is_dir()]
    if missing:
        pytest.skip(NO_LFW)

    def attributes(lfw_dir):
        (lfw_dir / "attributes").mkdir()
        shutil.copy(
            lfw.protocol_dir / "attributes" / "lfw_attributes_62people_subset.tsv",
            lfw_dir / "attributes" / "lfw_attributes_62people_subset.tsv",
        )

    root = tmp_path_factory.mktemp("lfw_failures")
    pairs = [("Alvaro_Uribe", 1, 2), ("Alvaro_Uribe", 1, "Gray_Davis", 1)]
    data_root, cache = prepared_mini_lfw(lfw, root, people, pairs, pairs, 1, extra=attributes)
    rc = main(
        [
            "failures",
            "--checkpoint",
            str(tiny),
            "--data-root",
            str(data_root),
            "--cache-dir",
            str(cache),
            "--far",
            "1e-2,1e-1",
            "--min-pairs",
            "3",
            "--bootstrap",
            "10",
            "--quiet",
            "--json",
            str(root / "f.json"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    data = json.loads((root / "f.json").read_text())
    assert data["protocol"] == "lfw-devtest" and data["n_usable"] == 28 and data["n_pairs"] == 28 * 27 // 2
    assert "lfw:Eyeglasses" in data["images"]["columns"] and "lfw:Male" in data["images"]["columns"]
    assert any(s["column"].startswith("lfw:") for s in data["slices"]["slices"]["0.1"])


# ---------------------------------------------------------------------------------- embedding map
def test_embedding_map_pca_and_its_fallback(rng, monkeypatch):
    import interpface.evaluation.projection as P

    emb = rng.normal(size=(40, 16)).astype(np.float32)
    emb[3] = np.nan
    xy, method = P.embedding_map(emb, "pca")
    assert method == "pca" and xy.shape == (40, 2) and np.isnan(xy[3]).all() and np.isfinite(np.delete(xy, 3, 0)).all()
    monkeypatch.setattr(P, "umap_available", lambda: False)
    assert P.embedding_map(emb, "auto")[1] == "pca"  # no umap-learn: PCA
    with pytest.raises(ConfigError, match="umap-learn"):
        P.embedding_map(emb, "umap")
    with pytest.raises(ConfigError):
        P.embedding_map(emb, "tsne")


def test_cli_bad_files_are_one_line(folder, tiny, tmp_path, capsys):
    """A pairs file naming a missing image and a metadata CSV naming an unknown one: exit 2, one line
    that names the file's problem."""
    spec, cache = folder
    (tmp_path / "pairs.txt").write_text("Grace_Hopper/Grace_Hopper_0001.jpg\tNobody/x.jpg\t0\n")
    (tmp_path / "meta.csv").write_text("image,site\nNobody/x.jpg,north\nGrace_Hopper/Grace_Hopper_0001.jpg,south\n")
    base = ["failures", "--checkpoint", str(tiny), "--dataset", spec, "--cache-dir", str(cache), "--quiet"]
    for extra, expected in (
        (["--pairs", str(tmp_path / "pairs.txt")], "Nobody/x.jpg"),
        (["--metadata", str(tmp_path / "meta.csv"), "--far", "0.1"], "not in the dataset"),
        (["--pairs", str(tmp_path / "missing.txt")], "missing"),
    ):
        rc = main(base + extra)
        err = capsys.readouterr().err
        assert rc == 2 and expected in err and len(err.strip().splitlines()) == 1, err
