"""Numbers that summarise where the filters look (DESIGN §3; paper Figs. 5 and 9).

All locations are template pixels (the 110x110 frame of ``assets/template.json``) unless said
otherwise. Filters whose average location is NaN (no peak of that sign in any image) are left out.

- spread: mean Euclidean distance of the per-filter average locations to their centroid (unweighted:
  every filter counts once). Larger = filters cover more of the face.
- hull fraction: area of the part of the convex hull of the average locations that lies inside the
  face region, divided by the area of the face region (in [0, 1]). The face region is the convex hull of the 68 template landmarks together with the 4 corners
  of the template's forehead box (``template.regions["forehead"]``), i.e. the face from the jaw to
  the top of the forehead. Degenerate cases (< 3 points, collinear) give 0.
- regions covered: how many of the named regions in ``COVERAGE_REGIONS`` (the template regions
  without the ``eyes`` union, so no area counts twice) contain at least one filter's average location.
- peak-std quartiles: the 25th, 50th, 75th percentiles of the per-filter std (:mod:`.peaks`).
- location instability (Zhang et al., CVPR 2018, "Interpretable Convolutional Neural Networks",
  adapted): for filter k and image n where the filter has a peak of that sign, d_nkl = ||p_nk - L_nl||
  / D, the distance between the peak p_nk and landmark l of the same image (both in aligned-crop
  pixels), normalised by D, the diagonal of the network input (96 * sqrt 2). The filter's instability
  is the mean over the 68 landmarks of the standard deviation over images of d_nkl (population std,
  unweighted); the model's is the mean over filters with at least 2 peaks. Smaller = the filter keeps
  the same position relative to the face parts. (Zhang et al. use the top-activated images of each
  filter and a handful of part landmarks; here all analysed images with a peak and all 68 landmarks.)
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from interpface.faces.template import Template, default_template

__all__ = [
    "COVERAGE_REGIONS",
    "spread",
    "face_region_polygon",
    "face_region_area",
    "hull_area",
    "hull_fraction",
    "region_counts",
    "regions_covered",
    "std_quartiles",
    "location_instability",
]

COVERAGE_REGIONS = ("left_eye", "right_eye", "nose", "mouth", "forehead", "left_cheek", "right_cheek", "chin")


def _valid(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return points[np.isfinite(points).all(axis=1)]


def spread(mean_xy: np.ndarray) -> float:
    """mean_xy (K, 2) -> mean distance to the centroid (NaN when no filter has a location)."""
    p = _valid(mean_xy)
    if len(p) == 0:
        return float("nan")
    return float(np.linalg.norm(p - p.mean(axis=0), axis=1).mean())


def face_region_polygon(template: Template | None = None) -> np.ndarray:
    """(M, 2) vertices (counter-clockwise) of the face region: convex hull of the 68 template landmarks
    and the forehead box corners."""
    template = template or default_template()
    key = (template.digest, template.size)
    if key not in _FACE_POLYGONS:
        x0, y0, x1, y1 = template.regions["forehead"].box
        pts = np.vstack([template.landmarks, [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]])
        _FACE_POLYGONS[key] = pts[ConvexHull(pts).vertices]
    return _FACE_POLYGONS[key].copy()


_FACE_POLYGONS: dict = {}


def face_region_area(template: Template | None = None) -> float:
    """Area (template pixels^2) of :func:`face_region_polygon`."""
    return hull_area(face_region_polygon(template))


def hull_area(points: np.ndarray) -> float:
    """Area of the convex hull of points (M, 2); 0 for fewer than 3 or collinear points."""
    p = _valid(points)
    if len(p) < 3:
        return 0.0
    try:
        return float(ConvexHull(p).volume)  # in 2-D, "volume" is the area
    except QhullError:
        return 0.0


def hull_fraction(mean_xy: np.ndarray, template: Template | None = None) -> float:
    """Area of (convex hull of the average locations) ∩ (face region) / face-region area, in [0, 1]."""
    p = _valid(mean_xy)
    if len(p) < 3:
        return 0.0
    try:
        hull = p[ConvexHull(p).vertices]
    except QhullError:
        return 0.0
    face = face_region_polygon(template)
    return _polygon_area(_clip_convex(hull, face)) / _polygon_area(face)


def _polygon_area(poly: np.ndarray) -> float:
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def _clip_convex(subject: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman: the part of convex polygon `subject` inside convex polygon `clip`
    (both (M, 2), counter-clockwise as scipy's ConvexHull orders 2-D vertices)."""
    out = [tuple(v) for v in subject]
    n = len(clip)
    for i in range(n):
        a, b = clip[i], clip[(i + 1) % n]
        inside = lambda q, a=a, b=b: (b[0] - a[0]) * (q[1] - a[1]) - (b[1] - a[1]) * (q[0] - a[0]) >= 0  # noqa: E731
        src, out = out, []
        for j in range(len(src)):
            p, q = np.asarray(src[j]), np.asarray(src[(j + 1) % len(src)])
            pin, qin = inside(p), inside(q)
            if pin:
                out.append(tuple(p))
            if pin != qin:
                d = q - p
                e = b - a
                den = e[0] * d[1] - e[1] * d[0]
                if den != 0:
                    t = ((p[0] - a[0]) * e[1] - (p[1] - a[1]) * e[0]) / den
                    out.append(tuple(p + t * d))
        if not out:
            return np.zeros((0, 2))
    return np.asarray(out, dtype=np.float64)


def region_counts(mean_xy: np.ndarray, template: Template | None = None, regions=COVERAGE_REGIONS) -> dict[str, int]:
    """How many average locations fall in each named region (a point may count in two boxes)."""
    template = template or default_template()
    p = _valid(mean_xy)
    return {name: int(template.regions[name].contains(p).sum()) for name in regions}


def regions_covered(mean_xy: np.ndarray, template: Template | None = None, regions=COVERAGE_REGIONS) -> int:
    """Number of named regions holding at least one filter's average location."""
    return int(sum(c > 0 for c in region_counts(mean_xy, template, regions).values()))


def std_quartiles(std: np.ndarray) -> dict[str, float]:
    """Per-filter stds (K,) -> {"q1", "median", "q3"} (NaNs ignored; NaN when all are NaN)."""
    s = np.asarray(std, dtype=np.float64)
    s = s[np.isfinite(s)]
    if len(s) == 0:
        return {"q1": float("nan"), "median": float("nan"), "q3": float("nan")}
    q1, med, q3 = np.percentile(s, [25, 50, 75])
    return {"q1": float(q1), "median": float(med), "q3": float(q3)}


def location_instability(
    peak_xy: np.ndarray,
    valid: np.ndarray,
    landmarks: np.ndarray,
    *,
    diagonal: float = 96.0 * np.sqrt(2.0),
    chunk: int = 64,
) -> tuple[float, np.ndarray]:
    """Zhang et al.'s location instability (definition in the module docstring).

    peak_xy: (N, K, 2) peak positions of one sign, valid: (N, K) bool (the filter has such a peak in
    that image), landmarks: (N, 68, 2); positions and landmarks in the same pixels (aligned crop).
    Returns (model instability, per-filter instability (K,) with NaN for filters with < 2 peaks).
    """
    import torch

    p = np.asarray(peak_xy, dtype=np.float32)
    w = np.asarray(valid, dtype=np.float32).T  # (K, N)
    lm = np.asarray(landmarks, dtype=np.float32)
    k = w.shape[0]
    cnt = w.sum(axis=1).astype(np.float64)  # (K,)
    # Layout (filters, landmarks, images) and two passes (mean, then squared deviations) in float32.
    px, py = torch.from_numpy(np.ascontiguousarray(p[..., 0].T)), torch.from_numpy(np.ascontiguousarray(p[..., 1].T))
    lx, ly = torch.from_numpy(np.ascontiguousarray(lm[..., 0].T)), torch.from_numpy(np.ascontiguousarray(lm[..., 1].T))
    wt = torch.from_numpy(w)
    per_filter = np.full(k, np.nan)
    with torch.inference_mode():
        for s in range(0, k, chunk):
            e = min(k, s + chunk)
            d = torch.hypot(px[s:e, None, :] - lx[None], py[s:e, None, :] - ly[None])  # (c, 68, N)
            ww = wt[s:e, :, None]
            c = torch.from_numpy(np.maximum(cnt[s:e], 1.0).astype(np.float32))[:, None]
            mean = torch.bmm(d, ww)[..., 0] / c  # (c, 68)
            var = torch.bmm((d - mean[..., None]).square_(), ww)[..., 0] / c
            per_filter[s:e] = (var.double().sqrt() / diagonal).mean(dim=1).numpy()
    per_filter[cnt < 2] = np.nan
    finite = per_filter[np.isfinite(per_filter)]
    return (float(finite.mean()) if len(finite) else float("nan")), per_filter
