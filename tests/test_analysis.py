"""Peaks, template warp, per-filter statistics, spread summaries, feature differences, run_analysis."""

import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from interpface.analysis import (
    AnalysisResult,
    cell_centers,
    cells_to_crop,
    cells_to_template,
    difference_summary,
    face_region_polygon,
    feature_differences,
    filter_location_stats,
    find_peaks,
    hull_fraction,
    load_precomputed,
    location_instability,
    peak_weights,
    region_counts,
    region_rects,
    regions_covered,
    run_analysis,
    save_precomputed,
    similarity_batch,
    sorted_differences,
    spread,
    std_quartiles,
    to_template_batch,
)
from interpface.analysis.feature_difference import location_grid
from interpface.analysis.precomputed import list_precomputed
from interpface.faces.align import estimate_similarity
from interpface.faces.occlusion import occlude_batch
from interpface.models.adapters import InterpretableFaceModel
from tests.tiny import tiny_model as tiny_model_builder


@pytest.fixture(scope="module")
def faces(template):
    """6 synthetic aligned faces: textured crops, landmarks = the template moved by small similarities."""
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (6, 110, 110, 3), dtype=np.uint8)
    lms = []
    for _ in range(6):
        a, s = np.deg2rad(rng.uniform(-8, 8)), rng.uniform(0.93, 1.07)
        rot = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        c = template.landmarks.mean(axis=0)
        lms.append((template.landmarks - c) @ rot.T + c + rng.uniform(-3, 3, 2))
    return crops, np.stack(lms)


@pytest.fixture(scope="module")
def tiny_model():
    """A tiny-config model whose BatchNorm statistics come from a few train-mode passes."""
    torch.set_num_threads(1)
    return tiny_model_builder(0)


# ------------------------------------------------------------------------------------------ peaks
def test_peaks_exact_on_synthetic_maps():
    rng = np.random.default_rng(1)
    b, k, g = 3, 5, 24
    maps = torch.from_numpy(rng.uniform(-0.5, 0.5, (b, k, g, g)).astype(np.float32))
    pos = rng.integers(0, g, (b, k, 2))
    neg = (pos + rng.integers(1, g, (b, k, 2))) % g  # never the same cell
    for i in range(b):
        for j in range(k):
            maps[i, j, pos[i, j, 0], pos[i, j, 1]] = 3.0 + j
            maps[i, j, neg[i, j, 0], neg[i, j, 1]] = -2.0 - i
    idx, val = find_peaks(maps)
    assert idx.shape == (b, k, 2) and val.shape == (b, k, 2)
    assert np.array_equal(idx[..., 0].numpy(), pos[..., 0] * g + pos[..., 1])
    assert np.array_equal(idx[..., 1].numpy(), neg[..., 0] * g + neg[..., 1])
    assert np.array_equal(val[..., 0].numpy(), np.broadcast_to(3.0 + np.arange(k), (b, k)))
    assert np.array_equal(val[..., 1].numpy(), np.broadcast_to(-2.0 - np.arange(b)[:, None], (b, k)))
    # cell (i, j) -> aligned-crop pixel (4j + 1.5 + 7, 4i + 1.5 + 7)
    xy = cells_to_crop(idx.numpy())
    assert np.array_equal(xy[..., 0, 0], 4 * pos[..., 1] + 8.5) and np.array_equal(xy[..., 0, 1], 4 * pos[..., 0] + 8.5)
    w = peak_weights(val)
    assert torch.equal(w[..., 0], val[..., 0]) and torch.equal(w[..., 1], -val[..., 1])
    assert np.array_equal(peak_weights(np.array([[-1.0, 2.0]])), [[0.0, 0.0]])  # no positive / negative peak


def test_cell_centers_layout():
    c = cell_centers(24)
    assert c.shape == (576, 2)
    assert np.array_equal(c[0], [8.5, 8.5]) and np.array_equal(c[1], [12.5, 8.5]) and np.array_equal(c[24], [8.5, 12.5])
    assert np.array_equal(c[-1], [4 * 23 + 8.5] * 2)


# ------------------------------------------------------------------------------------------- warp
def test_similarity_batch_matches_estimate_similarity(faces, template):
    _, lms = faces
    m = similarity_batch(template.landmarks, lms)
    for i in range(len(lms)):
        assert np.allclose(m[i], estimate_similarity(template.landmarks, lms[i]), atol=1e-10)


def test_warp_identity_landmarks_is_identity(template):
    pts = np.random.default_rng(2).uniform(0, 109, (200, 2))
    out = to_template_batch(template.mesh, pts, template.landmarks[None])
    assert np.allclose(out[0], pts, atol=1e-9)
    # every cell centre of a face aligned exactly like the template maps onto itself
    idx = np.arange(576).reshape(1, 576)
    assert np.allclose(cells_to_template(idx, template.landmarks[None]), cell_centers(24)[None], atol=1e-9)


def test_warp_matches_facemesh_to_template(faces, template):
    _, lms = faces
    pts = cell_centers(24)
    out = to_template_batch(template.mesh, pts, lms)
    for i in range(len(lms)):
        assert np.allclose(out[i], template.mesh.to_template(pts, lms[i]), atol=1e-8)


# ------------------------------------------------------------------------------------ statistics
def test_constant_peak_has_zero_std_and_weighted_mean():
    n, k = 7, 3
    xy = np.broadcast_to(np.array([[[20.0, 30.0], [50.5, 60.25]]]), (n, k, 2, 2)).copy()
    w = np.random.default_rng(3).uniform(0.1, 2.0, (n, k, 2))
    mean, std, total = filter_location_stats(xy, w)
    assert np.allclose(mean, xy[0]) and np.allclose(std, 0.0, atol=1e-12)
    assert np.allclose(total, w.sum(axis=0))
    # two images, weights 1 and 3: mean at 3/4, RMS distance sqrt(1*3^2 + 3*1^2)/2 for a 4 px gap
    xy2 = np.array([[[[0.0, 0.0]]], [[[4.0, 0.0]]]])
    mean, std, _ = filter_location_stats(xy2, np.array([[[1.0]], [[3.0]]]))
    assert np.allclose(mean[0, 0], [3.0, 0.0]) and np.isclose(std[0, 0], np.sqrt((9 + 3) / 4))
    mean, std, _ = filter_location_stats(xy2, np.zeros((2, 1, 1)))  # no peaks: NaN
    assert np.isnan(mean).all() and np.isnan(std).all()


def test_spread_hull_regions_quartiles(template):
    sq = np.array([[40.0, 40.0], [60.0, 40.0], [60.0, 60.0], [40.0, 60.0], [np.nan, np.nan]])
    assert np.isclose(spread(sq), np.sqrt(200.0))  # NaN rows ignored
    assert spread(np.full((3, 2), 7.0)) == 0.0
    face = face_region_polygon(template)
    assert np.isclose(hull_fraction(face, template), 1.0)
    assert np.isclose(hull_fraction(np.array([[0, 0], [109, 0], [109, 109], [0, 109.0]]), template), 1.0)
    c = face.mean(axis=0)
    assert np.isclose(hull_fraction((face - c) * 0.5 + c, template), 0.25)
    assert hull_fraction(np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]), template) == 0.0  # collinear
    centres = np.array([template.regions[r].center for r in ("nose", "mouth", "chin")])
    counts = region_counts(centres, template)
    assert counts["nose"] >= 1 and counts["mouth"] >= 1 and counts["chin"] >= 1 and counts["forehead"] == 0
    assert regions_covered(centres, template) == sum(v > 0 for v in counts.values())
    q = std_quartiles(np.array([1.0, 2.0, 3.0, 4.0, 5.0, np.nan]))
    assert q == {"q1": 2.0, "median": 3.0, "q3": 4.0}


def test_location_instability():
    rng = np.random.default_rng(4)
    n, k = 40, 6
    lm = rng.uniform(10, 100, (n, 68, 2))
    shift = rng.uniform(-5, 5, (n, 1, 2))
    lm_moving = lm[:1] + shift  # every face = the first one translated
    peaks = np.broadcast_to(rng.uniform(20, 90, (1, k, 2)), (n, k, 2)) + shift  # peaks move with the face
    total, per = location_instability(peaks, np.ones((n, k), bool), lm_moving)
    assert total == pytest.approx(0.0, abs=1e-6) and np.allclose(per, 0.0, atol=1e-6)
    # against a direct computation, with missing peaks
    p = rng.uniform(0, 110, (n, k, 2))
    v = rng.uniform(size=(n, k)) > 0.3
    v[:, 0] = False
    v[0, 0] = True  # filter 0: a single peak -> NaN
    total, per = location_instability(p, v, lm, diagonal=50.0)
    ref = [np.linalg.norm(p[v[:, j], j][:, None] - lm[v[:, j]], axis=-1).std(axis=0).mean() / 50.0 for j in range(1, k)]
    assert np.isnan(per[0]) and np.allclose(per[1:], ref, atol=1e-6)
    assert total == pytest.approx(np.mean(ref), abs=1e-6)


# ---------------------------------------------------------------------------- feature differences
class _Linear(nn.Module):
    """f(x) = W x (flattened input), float64 inside."""

    def __init__(self, k=5, seed=0):
        super().__init__()
        self.config = SimpleNamespace(input_size=96, num_filters=k)
        g = torch.Generator().manual_seed(seed)
        self.w = torch.randn(k, 3 * 96 * 96, generator=g, dtype=torch.float64)

    def forward(self, x):
        return (x.double().flatten(1) @ self.w.T).float()


def test_feature_differences_exact_on_linear_model(faces, template):
    crops, lms = faces
    model = InterpretableFaceModel(_Linear())  # takes the central window like ours
    occluders = {**region_rects(("eyes", "nose"), template), **location_grid(template, 2)}
    d = feature_differences(model, crops, lms, occluders, batch_size=4, template=template)
    assert d.names == ["eyes", "nose", "grid_r0c0", "grid_r0c1", "grid_r1c0", "grid_r1c1"]
    assert d.mean_abs.shape == (6, 5) and d.image_mean.shape == (6, 6)
    w = model.module.w.numpy().reshape(5, 3, 96, 96)
    for i, name in enumerate(d.names):
        occ, masks, _, _ = occlude_batch(crops, lms, None, template, rect=occluders[name])
        diff = (crops.astype(np.float64) - occ) / 255.0  # (N, 110, 110, 3), nonzero only under the mask
        diff = diff[:, 7:103, 7:103].transpose(0, 3, 1, 2)
        expected = np.abs(np.einsum("nchw,kchw->nk", diff, w))
        assert masks.any()
        assert np.allclose(d.mean_abs[i], expected.mean(axis=0), rtol=1e-5, atol=1e-5)
        assert np.allclose(d.image_mean[i], expected.mean(axis=1), rtol=1e-5, atol=1e-5)
    s = sorted_differences(np.array([1.0, 3.0, 2.0]))
    assert s.tolist() == [3.0, 2.0, 1.0]
    summ = difference_summary(np.array([6.0, 2.0, 1.0, 1.0]))
    assert summ["dims_50"] == 1 and summ["dims_90"] == 3 and summ["max"] == 6.0 and summ["mean"] == 2.5


# ---------------------------------------------------------------------------------- run_analysis
def test_run_analysis_tiny_model(tiny_model, faces, template, tmp_path):
    crops, lms = faces
    r = run_analysis(
        InterpretableFaceModel(tiny_model),
        crops,
        lms,
        regions=("eyes", "nose"),
        bootstrap=5,
        batch_size=4,
        relpaths=[f"p/{i}.jpg" for i in range(6)],
        identities=list("aabbcc"),
    )
    k = 32
    assert r.template_xy.shape == (6, k, 2, 2) and r.crop_xy.shape == (6, k, 2, 2) and r.weight.shape == (6, k, 2)
    assert r.mean_xy.shape == (k, 2, 2) and r.std.shape == (k, 2) and r.f.shape == (6, k)
    assert r.mean_face.shape == (110, 110, 3) and r.mean_face.dtype == np.uint8
    # the peaks are those of psi' from one forward
    with torch.no_grad():
        from interpface.analysis._common import to_input

        inter = tiny_model.forward_intermediates(to_input(crops))
    idx, val = find_peaks(inter.psi_smooth)
    assert np.allclose(r.crop_xy, cells_to_crop(idx.numpy()))
    assert np.allclose(r.template_xy, cells_to_template(idx.numpy(), lms, template=template), atol=1e-4)
    assert np.allclose(r.f, inter.f.numpy(), atol=1e-6)
    m = r.metrics
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
    ):
        assert key in m and np.isfinite(m[key]), key
    assert set(m["mean_feature_difference"]) == {"eyes", "nose"}
    assert m["bootstrap"]["spread_pos"]["n"] == 5 and "mean_feature_difference/eyes" in m["bootstrap"]
    assert set(r.meta["timings"]) >= {"forward_peaks", "warp", "stats", "feature_differences"}
    # save / load round trip
    r.save(tmp_path / "a")
    back = AnalysisResult.load(tmp_path / "a")
    assert np.array_equal(back.template_xy, r.template_xy) and back.relpaths == r.relpaths
    assert back.differences.names == ["eyes", "nose"] and np.allclose(back.differences.mean_abs, r.differences.mean_abs)
    assert back.metrics["spread_pos"] == pytest.approx(m["spread_pos"])
    # compact precomputed form: small, loads fast
    npz, js = save_precomputed(r, "tiny", tmp_path / "pre")
    assert npz.stat().st_size < 1_000_000 and list_precomputed(tmp_path / "pre") == ["tiny"]
    t = time.perf_counter()
    pre = load_precomputed("tiny", tmp_path / "pre")
    assert time.perf_counter() - t < 0.5
    assert np.allclose(pre.mean_xy, r.mean_xy, equal_nan=True) and pre.hist_counts.shape == (2, 30)
    assert pre.differences.names == ["eyes", "nose"] and pre.metrics["spread_pos"] == pytest.approx(m["spread_pos"])
    assert load_precomputed(npz).name == "tiny"


def test_precomputed_320_filters_loads_fast(tmp_path):
    rng = np.random.default_rng(5)
    n, k = 50, 320
    r = AnalysisResult(
        rng.uniform(0, 110, (n, k, 2, 2)).astype(np.float32),
        rng.uniform(0, 110, (n, k, 2, 2)).astype(np.float32),
        rng.uniform(0, 1, (n, k, 2)).astype(np.float32),
        rng.normal(size=(n, k)).astype(np.float32),
        rng.uniform(0, 110, (n, 68, 2)).astype(np.float32),
        rng.uniform(0, 110, (k, 2, 2)),
        rng.uniform(0, 30, (k, 2)),
        np.ones((k, 2)),
        rng.integers(0, 255, (110, 110, 3), dtype=np.uint8),
    )
    from interpface.analysis.feature_difference import FeatureDifferences

    rects = list(region_rects().values())
    r.differences = FeatureDifferences(
        [f"r{i}" for i in range(len(rects))],
        rects,
        rng.uniform(size=(len(rects), k)),
        rng.uniform(size=(len(rects), n)),
    )
    npz, _ = save_precomputed(r, "big", tmp_path)
    assert npz.stat().st_size < 1_000_000
    t = time.perf_counter()
    load_precomputed("big", tmp_path)
    assert time.perf_counter() - t < 0.25
