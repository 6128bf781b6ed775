"""The filter card's data: each filter's top faces, its peak covariance, the thumbnail mosaic."""

from __future__ import annotations

import numpy as np
import pytest

from interpface.analysis import AnalysisResult, filter_location_stats, load_precomputed, save_precomputed
from interpface.analysis.top_faces import (
    THUMB_SIZE,
    THUMB_WINDOW,
    decode_thumbs,
    encode_thumbs,
    peak_covariance,
    thumb_origin,
    top_faces,
)
from interpface.errors import CacheError


def _result(rng, n=12, k=5):
    template_xy = rng.uniform(10, 100, (n, k, 2, 2)).astype(np.float32)
    crop_xy = rng.uniform(0, 110, (n, k, 2, 2)).astype(np.float32)
    weight = rng.uniform(0, 1, (n, k, 2)).astype(np.float32)
    weight[:, 0, 0] = 0.0  # filter 0 never has a positive peak
    weight[:3, 1, 0] = 0.0
    mean_xy, std, total = filter_location_stats(template_xy, weight)
    return AnalysisResult(
        template_xy,
        crop_xy,
        weight,
        rng.normal(size=(n, k)).astype(np.float32),
        rng.uniform(0, 110, (n, 68, 2)).astype(np.float32),
        mean_xy,
        std,
        total,
        np.zeros((110, 110, 3), np.uint8),
        [f"p{i}/p{i}_0001.jpg" for i in range(n)],
    )


def test_top_faces_are_the_strongest_positive_peaks():
    rng = np.random.default_rng(0)
    r = _result(rng)
    crops = rng.integers(0, 255, (r.n_images, 110, 110, 3), dtype=np.uint8)
    top = top_faces(crops, r.weight, r.crop_xy, r.relpaths, n=4)
    assert top.index.shape == (5, 4) and top.thumbs.shape == (5, 4, THUMB_SIZE, THUMB_SIZE, 3)
    assert (top.index[0] == -1).all() and (top.relpaths[0] == "").all() and not top.thumbs[0].any()
    for f in range(1, 5):
        want = np.argsort(-r.weight[:, f, 0], kind="stable")[:4]
        assert list(top.index[f]) == list(want)
        assert np.allclose(top.value[f], r.weight[want, f, 0])
        assert list(top.relpaths[f]) == [r.relpaths[i] for i in want]
        # the thumbnail is the window around that face's positive peak
        i = top.index[f, 0]
        x0, y0 = thumb_origin(r.crop_xy[i, f, 0], 110)
        assert 0 <= x0 <= 110 - THUMB_WINDOW and 0 <= y0 <= 110 - THUMB_WINDOW
        assert np.allclose(top.peak_xy[f, 0], r.crop_xy[i, f, 0])
        window = crops[i, y0 : y0 + THUMB_WINDOW, x0 : x0 + THUMB_WINDOW].astype(float)
        assert abs(top.thumbs[f, 0].astype(float).mean() - window.mean()) < 2.0


def test_fewer_images_than_top_faces_are_padded():
    rng = np.random.default_rng(1)
    r = _result(rng, n=2)
    top = top_faces(np.zeros((2, 110, 110, 3), np.uint8), r.weight, r.crop_xy, n=4)
    assert top.index.shape == (5, 4) and (top.index[:, 2:] == -1).all()


def test_peak_covariance_trace_is_the_squared_std():
    rng = np.random.default_rng(2)
    r = _result(rng)
    cov = peak_covariance(r.template_xy, r.weight)
    assert cov.shape == (5, 2, 2, 2)
    assert np.isnan(cov[0, 0]).all()
    trace = cov[..., 0, 0] + cov[..., 1, 1]
    ok = np.isfinite(r.std)
    assert np.allclose(trace[ok], r.std[ok] ** 2, rtol=1e-4)
    assert np.allclose(cov, np.swapaxes(cov, -1, -2), equal_nan=True)


def test_thumbnail_mosaic_round_trip_and_a_corrupt_one():
    # smooth tiles (JPEG is lossy: compare to a tolerance a viewer would not notice)
    base = np.linspace(0, 255, THUMB_SIZE)[None, :, None]
    thumbs = np.broadcast_to(base, (6, 3, THUMB_SIZE, THUMB_SIZE, 3)).astype(np.uint8).copy()
    thumbs[2, 1] = 200
    data = encode_thumbs(thumbs)
    assert data.nbytes < thumbs.nbytes / 4
    back = decode_thumbs(data, 6, 3)
    assert back.shape == thumbs.shape and np.abs(back.astype(int) - thumbs).mean() < 3
    assert np.abs(back[2, 1].astype(int) - 200).max() < 8
    with pytest.raises(CacheError):
        decode_thumbs(np.frombuffer(b"not a jpeg", np.uint8), 6, 3)
    with pytest.raises(CacheError):
        decode_thumbs(data, 7, 3)


def test_precomputed_keeps_top_faces_and_covariance(tmp_path):
    rng = np.random.default_rng(4)
    r = _result(rng)
    crops = rng.integers(0, 255, (r.n_images, 110, 110, 3), dtype=np.uint8)
    save_precomputed(r, "card", tmp_path, crops=crops)
    pre = load_precomputed("card", tmp_path)
    assert pre.top is not None and pre.top.index.shape == (5, 4)
    assert list(pre.top.relpaths[1]) == [r.relpaths[i] for i in pre.top.index[1]]
    assert pre.peak_cov.shape == (5, 2, 2, 2)
    # without the crops: no top faces, still the covariance; older files load too
    save_precomputed(r, "plain", tmp_path)
    assert load_precomputed("plain", tmp_path).top is None
