"""`interpface analyze` and `interpface report` end to end on a tiny model and a small LFW copy."""

import json

import numpy as np
import pytest
import torch

from interpface.cli.main import main
from interpface.models.checkpoint import save_checkpoint
from interpface.models.networks import InterpretableFaceNet, get_model_config
from tests.tiny import prepared_mini_lfw

PEOPLE = {"Long_Astronaut": 1, "Grace_Hopper": 4, "Wide_Astronaut": 3, "Wide_Hopper": 3}
PAIRS = [
    ("Grace_Hopper", 1, 2),
    ("Wide_Astronaut", 1, 3),
    ("Grace_Hopper", 3, "Wide_Hopper", 3),
    ("Long_Astronaut", 1, "Wide_Astronaut", 2),
]


@pytest.fixture(scope="module")
def mini_lfw(tmp_path_factory, faces):
    """(data_root, cache_dir): 11 images of the test face set, all DevTest, with protocol files, prepared."""
    return prepared_mini_lfw(faces, tmp_path_factory.mktemp("mini_analysis"), PEOPLE, PAIRS, PAIRS, 1)


@pytest.fixture(scope="module")
def tiny_ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpts")
    torch.set_num_threads(1)
    out = []
    for i, name in enumerate(("base", "full")):
        torch.manual_seed(i)
        net = InterpretableFaceNet(get_model_config("tiny"))
        net.train()
        with torch.no_grad():
            for _ in range(3):
                net(torch.rand(8, 3, 96, 96))
        save_checkpoint(root / name, net.eval(), model_config=net.config, extra={})
        out.append(root / name)
    return out


def test_analyze_command(mini_lfw, tiny_ckpts, tmp_path, capsys):
    root, cache = mini_lfw
    out = tmp_path / "an"
    rc = main(
        [
            "analyze",
            "--checkpoint",
            str(tiny_ckpts[0]),
            "--images",
            "8",
            "--out",
            str(out),
            "--regions",
            "eyes,nose",
            "--bootstrap",
            "5",
            "--data-root",
            str(root),
            "--cache-dir",
            str(cache),
            "--quiet",
            "--precompute",
            "tiny_base",
            "--precompute-dir",
            str(tmp_path / "pre"),
            "--json",
            str(tmp_path / "a.json"),
        ]
    )
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for key in (
        "spread_pos",
        "spread_neg",
        "hull_fraction_pos",
        "hull_fraction_neg",
        "regions_covered_pos",
        "regions_covered_neg",
        "median_peak_std_pos",
        "median_peak_std_neg",
        "location_instability",
        "mean_feature_difference",
    ):
        assert key in metrics, key
    assert set(metrics["mean_feature_difference"]) == {"eyes", "nose"} and metrics["n_images"] == 8
    with np.load(out / "analysis.npz") as z:
        assert z["template_xy"].shape == (8, 32, 2, 2) and z["diff_mean_abs"].shape == (2, 32)
    assert (tmp_path / "pre" / "tiny_base.npz").is_file() and (tmp_path / "pre" / "tiny_base.json").is_file()
    assert json.loads((tmp_path / "a.json").read_text())["precomputed"]
    assert "spread" in capsys.readouterr().out
    # user errors: one line, exit status 2
    assert (
        main(
            [
                "analyze",
                "--checkpoint",
                str(tmp_path / "missing"),
                "--out",
                str(out),
                "--images",
                "2",
                "--data-root",
                str(root),
                "--cache-dir",
                str(cache),
                "--quiet",
            ]
        )
        == 2
    )
    assert (
        main(
            [
                "analyze",
                "--checkpoint",
                str(tiny_ckpts[0]),
                "--out",
                str(out),
                "--regions",
                "ears",
                "--data-root",
                str(root),
                "--cache-dir",
                str(cache),
                "--quiet",
            ]
        )
        == 2
    )


def test_report_command(mini_lfw, tiny_ckpts, tmp_path):
    from interpface.figures import find_browser

    root, cache = mini_lfw
    formats = "png,html" if find_browser() else "html"
    out = tmp_path / "rep"
    rc = main(
        [
            "report",
            "--checkpoints",
            ",".join(map(str, tiny_ckpts)),
            "--out",
            str(out),
            "--images",
            "10",
            "--pairs",
            "4",
            "--bootstrap",
            "3",
            "--heatmap-faces",
            "2",
            "--heatmap-filters",
            "3",
            "--formats",
            formats,
            "--data-root",
            str(root),
            "--cache-dir",
            str(cache),
            "--quiet",
        ]
    )
    assert rc == 0
    html = (out / "report.html").read_text()
    assert html.count("<script type='text/javascript'>") == 1 and "base" in html and "full" in html
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["models"]) == {"base", "full"}
    expected = {
        "metrics",
        "fig5_peak_maps",
        "fig9_std_histograms",
        "fig6_feature_differences",
        "fig7_difference_locations",
        "fig10_roc_clean",
        "fig10_roc_occluded",
        "fig8_heatmaps_base_different",
        "fig8_heatmaps_full_same",
        "attributions_base",
    }
    assert expected <= set(summary["figures"])
    for stem in summary["figures"]:
        for fmt in formats.split(","):
            assert (out / "figures" / f"{stem}.{fmt}").stat().st_size > 0, (stem, fmt)
    for table in ("metrics", "feature_differences", "roc", "filters"):
        assert (out / "tables" / f"{table}.csv").read_text().startswith("model,")
    assert (out / "analyses" / "base" / "analysis.npz").is_file()


def test_report_puts_a_black_box_beside_ours(mini_lfw, tiny_ckpts, tmp_path):
    """`report --checkpoints DIR,iresnet18:FILE`: a user's IResNet-18 (random weights) gets the same
    sections: peaks of its layer3 channels, ROC, heatmaps over the crop, attributions on its input."""
    from safetensors.torch import save_file

    from interpface.models.adapters import IResNet

    torch.manual_seed(0)
    weights = tmp_path / "r18.safetensors"
    save_file({k: v.contiguous() for k, v in IResNet(18).eval().state_dict().items()}, str(weights))
    root, cache = mini_lfw
    out = tmp_path / "rep"
    rc = main(
        [
            "report",
            "--checkpoints",
            f"{tiny_ckpts[0]},iresnet18:{weights}",
            "--out",
            str(out),
            "--images",
            "10",
            "--pairs",
            "4",
            "--bootstrap",
            "0",
            "--heatmap-faces",
            "2",
            "--heatmap-filters",
            "3",
            "--formats",
            "html",
            "--data-root",
            str(root),
            "--cache-dir",
            str(cache),
            "--quiet",
        ]
    )
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["models"]) == {"base", "iresnet18"}
    assert {"fig8_heatmaps_iresnet18_different", "attributions_iresnet18", "fig10_roc_clean"} <= set(summary["figures"])
    filters = (out / "tables" / "filters.csv").read_text().splitlines()
    assert sum(line.startswith("iresnet18,") for line in filters) == 256  # layer3 of an IResNet: 256 channels


# -- any dataset: a folder per identity and a flat folder, not LFW ----------------------------------
@pytest.fixture(scope="module")
def folder_datasets(tmp_path_factory, faces):
    """(identity folder, flat folder, cache): the face set's 24 images renamed into a folder per
    identity ("Grace Hopper/photo 1.jpg") and into one flat folder, both prepared into one cache."""
    import shutil

    from interpface.faces.datasets import load_dataset
    from interpface.faces.prepare import prepare_dataset

    root = tmp_path_factory.mktemp("folders")
    people, flat, cache = root / "my people", root / "flat", root / "cache"
    flat.mkdir()
    for r in faces.records:
        person, k = r.identity.replace("_", " "), int(r.relpath[-8:-4])
        (people / person).mkdir(parents=True, exist_ok=True)
        shutil.copy(faces.path(r.relpath), people / person / f"photo {k}.jpg")
        shutil.copy(faces.path(r.relpath), flat / r.relpath.split("/")[1])
    for folder in (people, flat):
        prepare_dataset(load_dataset(f"folder:{folder}"), cache_dir=cache, workers=1, progress=False)
    return people, flat, cache


def _run(*argv):
    return main([str(a) for a in argv])


def test_analyze_faithfulness_report_compare_on_a_folder_per_identity(folder_datasets, tiny_ckpts, tmp_path, capsys):
    people, _, cache = folder_datasets
    ds = ["--dataset", f"folder:{people}", "--cache-dir", cache, "--quiet"]
    rc = _run("analyze", "--checkpoint", tiny_ckpts[0], "--images", 6, "--regions", "eyes", "--bootstrap", 0,
              "--out", tmp_path / "an", *ds)  # fmt: skip
    assert rc == 0
    metrics = json.loads((tmp_path / "an" / "metrics.json").read_text())
    assert metrics["n_images"] == 6 and metrics["meta"]["dataset"] == f"folder:{people}"
    assert "6 my people faces" in capsys.readouterr().out

    rc = _run("faithfulness", "--checkpoint", tiny_ckpts[0], "--n-pairs", 2, "--methods", "representation,random",
              "--baselines", "black", "--steps", 4, "--json", tmp_path / "f.json", *ds)  # fmt: skip
    assert rc == 0
    f = json.loads((tmp_path / "f.json").read_text())
    assert f["rows"][0]["n_genuine"] == 2 and f["rows"][0]["n_impostor"] == 2 and f["pairs_file"] is None
    assert "drawn from the identities of my people" in f["pairs_note"]

    rc = _run("report", "--checkpoints", tiny_ckpts[0], "--images", 8, "--n-pairs", 12, "--bootstrap", 0,
              "--heatmap-faces", 2, "--heatmap-filters", 2, "--formats", "html", "--out", tmp_path / "rep", *ds)  # fmt: skip
    assert rc == 0
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert summary["dataset"] == "my people" and summary["notes"] == []
    assert {"fig10_roc_clean", "fig8_heatmaps_base_same", "attributions_base"} <= set(summary["figures"])
    assert "my people" in (tmp_path / "rep" / "report.html").read_text()

    rc = _run("compare", "--checkpoint", tiny_ckpts[0], "--against", tiny_ckpts[1], "--bootstrap", 5,
              "--json", tmp_path / "c.json", *ds)  # fmt: skip
    assert rc == 0
    c = json.loads((tmp_path / "c.json").read_text())
    assert c["protocol"] == f"dataset:folder:{people}" and c["results"][0]["kind"] == "identity cluster bootstrap"


def test_a_flat_folder_runs_what_needs_no_identities(folder_datasets, tiny_ckpts, tmp_path, capsys):
    _, flat, cache = folder_datasets
    ds = ["--dataset", f"folder:{flat}", "--cache-dir", cache, "--quiet"]
    assert _run("analyze", "--checkpoint", tiny_ckpts[0], "--images", 5, "--regions", "none", "--bootstrap", 0,
                "--out", tmp_path / "an", *ds) == 0  # fmt: skip
    capsys.readouterr()
    # pairs need identities or a pairs file: one line that says so, exit status 2
    faith = ["faithfulness", "--checkpoint", tiny_ckpts[0], "--methods", "random", "--baselines", "black",
             "--steps", 4, *ds]  # fmt: skip
    assert _run(*faith, "--n-pairs", 1) == 2
    err = capsys.readouterr().err
    assert "no identities and no pairs: pass --pairs FILE" in err and "Traceback" not in err
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(
        "Grace_Hopper_0001.jpg\tGrace_Hopper_0002.jpg\t1\n"
        "Wide_Hopper_0001.jpg\tWide_Hopper_0003.jpg\t1\n"
        "Grace_Hopper_0001.jpg\tEileen_Collins_0002.jpg\t0\n"
        f"{flat}/Long_Hopper_0001.jpg\t./Eileen_Collins_0003.jpg\t0\n"  # absolute and ./ paths are fine
    )
    assert _run(*faith, "--pairs", pairs, "--json", tmp_path / "f.json") == 0
    assert json.loads((tmp_path / "f.json").read_text())["rows"][0]["n_genuine"] == 2
    # the report leaves out what needs identities or pairs, and says so
    report = ["report", "--checkpoints", tiny_ckpts[0], "--images", 6, "--bootstrap", 0, "--heatmap-faces", 2,
              "--heatmap-filters", 2, "--formats", "html", *ds]  # fmt: skip
    assert _run(*report, "--out", tmp_path / "rep") == 0
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert not any("roc" in f or f.endswith("_same") for f in summary["figures"])
    assert len(summary["notes"]) == 2 and "note: " in capsys.readouterr().out
    assert _run(*report, "--out", tmp_path / "rep2", "--pairs", pairs) == 0
    assert "fig10_roc_clean" in json.loads((tmp_path / "rep2" / "summary.json").read_text())["figures"]
    # a pairs file naming images that are not in the dataset: counts, before the long part
    pairs.write_text("Grace_Hopper_0001.jpg\tnobody.jpg\t1\nGrace_Hopper_0009.jpg\tGrace_Hopper_0002.jpg\t1\n")
    capsys.readouterr()
    assert _run(*report, "--out", tmp_path / "rep3", "--pairs", pairs) == 2
    assert "2 of 2 pairs name 2 image(s) that are not in the dataset flat" in capsys.readouterr().err
    assert not (tmp_path / "rep3" / "analyses").exists()


def test_an_unprepared_folder_names_the_command_to_run(tmp_path, tiny_ckpts, faces, capsys):
    import shutil

    (tmp_path / "new" / "Ann").mkdir(parents=True)
    shutil.copy(faces.path(faces.records[0].relpath), tmp_path / "new" / "Ann" / "a.jpg")
    rc = _run("analyze", "--checkpoint", tiny_ckpts[0], "--dataset", f"folder:{tmp_path / 'new'}", "--out",
              tmp_path / "an", "--cache-dir", tmp_path / "cache", "--quiet")  # fmt: skip
    assert rc == 2
    assert f"run `interpface data prepare --dataset folder:{tmp_path / 'new'}" in capsys.readouterr().err
