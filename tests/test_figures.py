"""Every figure function returns a figure with the expected traces; export to HTML / PNG / SVG / PDF."""

import numpy as np
import plotly.graph_objects as go
import pytest

from interpface.analysis import AnalysisResult, Heatmaps, region_rects
from interpface.analysis.feature_difference import FeatureDifferences
from interpface.analysis.precomputed import PrecomputedAnalysis
from interpface.errors import InterpfaceError
from interpface.figures import (
    FigureExportError,
    attribution_figure,
    difference_location_figure,
    export_figure,
    export_figures,
    feature_difference_figure,
    heatmap_grid_figure,
    metrics_bar_figure,
    metrics_table,
    peak_map_figure,
    render_report,
    roc_figure,
    roc_points,
    std_histogram_figure,
    write_table_csv,
)
from interpface.figures.report import ReportSection

K = 12


def _result(seed: int) -> AnalysisResult:
    rng = np.random.default_rng(seed)
    n = 5
    std = rng.uniform(1, 20, (K, 2))
    std[0, 1] = np.nan  # a filter without negative peaks
    mean_xy = rng.uniform(20, 90, (K, 2, 2))
    mean_xy[0, 1] = np.nan
    r = AnalysisResult(
        rng.uniform(0, 110, (n, K, 2, 2)),
        rng.uniform(0, 110, (n, K, 2, 2)),
        rng.uniform(0, 1, (n, K, 2)),
        rng.normal(size=(n, K)),
        rng.uniform(0, 110, (n, 68, 2)),
        mean_xy,
        std,
        np.ones((K, 2)),
        rng.integers(0, 255, (110, 110, 3), dtype=np.uint8),
    )
    rects = region_rects(("eyes", "nose", "mouth"))
    r.differences = FeatureDifferences(
        list(rects), list(rects.values()), rng.uniform(0, 0.5, (3, K)), rng.uniform(size=(3, n))
    )
    r.metrics = {
        "spread_pos": 20.0 + seed,
        "hull_fraction_pos": 0.5,
        "median_peak_std_pos": 9.0,
        "mean_feature_difference": {"eyes": 0.1, "nose": 0.2},
        "bootstrap": {"spread_pos": {"std": 0.5}, "mean_feature_difference/eyes": {"std": 0.01}},
    }
    return r


@pytest.fixture(scope="module")
def models():
    return {"base": _result(0), "full": _result(1)}


def _scatter_names(fig):
    return [t.name for t in fig.data if isinstance(t, go.Scatter)]


def test_peak_map_figure(models):
    fig = peak_map_figure(models)
    # per panel: mean face image + template outline + filter scatter; 2 models x 2 signs
    assert sum(isinstance(t, go.Image) for t in fig.data) == 4
    assert [n for n in _scatter_names(fig) if n != "template"] == ["base pos", "base neg", "full pos", "full neg"]
    neg = next(t for t in fig.data if t.name == "base neg")
    assert len(neg.x) == K - 1  # the NaN filter is not drawn
    one = peak_map_figure(models["base"], signs=("pos",), background=False)
    assert not any(isinstance(t, go.Image) for t in one.data) and "model pos" in _scatter_names(one)
    pre = PrecomputedAnalysis.from_result(models["base"], "base")  # precomputed analyses draw the same
    assert len(peak_map_figure(pre).data) == len(peak_map_figure(models["base"]).data)


def test_std_histogram_figure(models):
    fig = std_histogram_figure(models, bins=10)
    bars = [t for t in fig.data if isinstance(t, go.Bar)]
    assert [b.name for b in bars] == ["base", "base", "full", "full"]
    assert sum(bars[0].y) == K and sum(bars[1].y) == K - 1


def test_feature_difference_figure(models):
    fig = feature_difference_figure(models, regions=("eyes", "nose"))
    assert _scatter_names(fig) == ["base", "base", "full", "full"]
    y = np.asarray(fig.data[0].y)
    assert len(y) == K and np.all(np.diff(y) <= 0)  # sorted, decreasing
    with pytest.raises(InterpfaceError):
        feature_difference_figure(models, regions=("chin",))


def test_difference_location_figure(models):
    fig = difference_location_figure(models, names=["eyes", "mouth"])
    names = _scatter_names(fig)
    assert names.count("occluder eyes") == 2 and names.count("occluder mouth") == 2
    assert {"base eyes", "base mouth", "full eyes", "full mouth"} <= set(names)
    assert sum(isinstance(t, go.Image) for t in fig.data) == 4
    pts = next(t for t in fig.data if t.name == "base eyes")
    assert len(pts.x) == K


def test_heatmap_grid_figure():
    rng = np.random.default_rng(2)
    n, f = 3, 4
    hm = Heatmaps(
        rng.integers(0, 255, (n, 96, 96, 3), dtype=np.uint8),
        np.arange(f),
        rng.uniform(0, 2, (n, f, 96, 96)),
        rng.uniform(0, 1, (n, f, 96, 96)),
        rng.normal(size=(n, f, 24, 24)),
    )
    fig = heatmap_grid_figure(hm, row_labels=["a", "b", "c"])
    assert len(fig.data) == n * (f + 1) and all(isinstance(t, go.Image) for t in fig.data)
    assert len(heatmap_grid_figure(hm, show_faces=False, normalise="tile").data) == n * f


def test_attribution_figure():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
    fig = attribution_figure(img, {"gradcam": rng.normal(size=(96, 96)), "occlusion": rng.normal(size=(96, 96))})
    assert [t.name for t in fig.data if isinstance(t, go.Heatmap)] == ["gradcam", "occlusion"]
    assert sum(isinstance(t, go.Image) for t in fig.data) == 3
    with pytest.raises(ValueError):
        attribution_figure(img, {"bad": np.zeros((100, 100))})


def test_roc_points_and_figure():
    labels = np.array([1, 1, 1, 0, 0, 0])
    r = roc_points(labels, np.array([0.9, 0.8, 0.3, 0.4, 0.2, 0.1]))
    assert r["auc"] == pytest.approx(8 / 9) and 0 <= r["eer"] <= 0.5
    assert roc_points(labels, np.array([3, 2, 1, -1, -2, -3.0]))["eer"] == 0.0
    fig = roc_figure({"base": r, "full": (np.array([0, 0.5, 1]), np.array([0, 0.9, 1]))})
    assert [t.name.split(" ")[0] for t in fig.data] == ["base", "full", "chance"]
    assert "AUC" in fig.data[0].name and len(roc_figure({"m": r}, log_x=True).data) == 2


def test_metrics_bar_figure_and_table(models, tmp_path):
    metrics = {n: r.metrics for n, r in models.items()}
    fig = metrics_bar_figure(metrics, keys=["spread_pos", "hull_fraction_pos"])
    assert [t.name for t in fig.data] == ["spread_pos", "hull_fraction_pos"]
    assert list(fig.data[0].x) == ["base", "full"] and fig.data[0].error_y.array[0] == 0.5
    rows = metrics_table(metrics)
    assert rows[0]["model"] == "base" and rows[0]["spread_pos_sd"] == 0.5 and rows[1]["mfd_nose"] == 0.2
    path = write_table_csv(rows, tmp_path / "t.csv")
    assert path.read_text().splitlines()[0].startswith("model,")


def test_export_html_and_report(models, tmp_path):
    fig = peak_map_figure(models)
    p = export_figure(fig, tmp_path / "f.html")
    assert "plotly" in p.read_text()[:100000].lower()
    html = render_report(
        "t",
        [
            ReportSection(
                "s",
                "text",
                {"a": fig, "b": roc_figure({"m": (np.r_[0, 1], np.r_[0, 1])})},
                {"tab": [{"model": "x", "v": 1.5}]},
            )
        ],
    )
    assert html.count("<script type='text/javascript'>") == 1  # plotly.js inlined once
    assert 'id="plot-a"' in html and "<td>1.5</td>" in html
    with pytest.raises(FigureExportError):
        export_figure(fig, tmp_path / "f.bmp")


def test_static_export_and_missing_browser(models, tmp_path, monkeypatch):
    from interpface.figures import find_browser

    # scripts/setup.sh installs Debian's chromium, so static export is always tested (never skipped).
    assert find_browser() is not None, "no Chromium for kaleido: run scripts/setup.sh"
    figs = {"hist": std_histogram_figure(models), "roc": roc_figure({"m": (np.r_[0, 0.2, 1], np.r_[0, 0.7, 1])})}
    written = export_figures(figs, tmp_path / "out", formats=["png", "svg", "pdf", "html"])
    assert len(written) == 8
    heads = {p.suffix: p.read_bytes()[:8] for p in written if p.stem == "hist"}
    assert heads[".png"].startswith(b"\x89PNG") and heads[".pdf"].startswith(b"%PDF") and b"<" in heads[".svg"]
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-chromium"))
    with pytest.raises(FigureExportError, match="chromium"):
        export_figure(figs["roc"], tmp_path / "x.png")
    export_figure(figs["roc"], tmp_path / "x.html")  # HTML needs no browser


def test_figures_never_import_streamlit():
    import subprocess
    import sys

    code = (
        "import sys, interpface.figures as f\n"
        "[getattr(f, n) for n in f.__all__]\n"
        "import interpface.figures.peaks, interpface.figures.differences, interpface.figures.heatmaps\n"
        "assert 'streamlit' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_attribution_figure_centres_input_maps_on_crops():
    rng = np.random.default_rng(4)
    crop = rng.integers(0, 255, (110, 110, 3), dtype=np.uint8)
    fig = attribution_figure(crop, rng.normal(size=(96, 96)))  # one input-frame map on an aligned crop
    z = np.asarray(next(t for t in fig.data if isinstance(t, go.Heatmap)).z, dtype=float)
    assert z.shape == (110, 110) and np.isnan(z[:7]).all() and np.isfinite(z[7:103, 7:103]).all()
