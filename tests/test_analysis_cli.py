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
