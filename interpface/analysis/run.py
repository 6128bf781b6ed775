"""One model, N faces, every analysis: :func:`run_analysis` -> :class:`AnalysisResult`.

One batched forward per batch of images gives psi' and f (the values of ``forward_intermediates``); the peaks are
found on the batch in torch, warped to the template in numpy (every cell centre of every face at once,
:mod:`interpface.analysis.warp`), and everything else (per-filter means and stds, spreads, Zhang's
instability, bootstrap spreads) is derived from those arrays without touching the model again. Only
the feature differences need more forward passes (one per image per occluder); they are timed
separately (``meta["timings"]``).

Array shapes: N images, K filters (N^f), sign axis S = 2 (0 = positive peak, 1 = negative peak).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from interpface.analysis._common import batch_slices, check_crops
from interpface.analysis.feature_difference import (
    DEFAULT_REGIONS,
    FeatureDifferences,
    difference_summary,
    feature_differences,
    region_rects,
)
from interpface.analysis.peaks import SIGNS, filter_location_stats, find_peaks, peak_weights
from interpface.analysis.summaries import (
    COVERAGE_REGIONS,
    hull_fraction,
    location_instability,
    region_counts,
    regions_covered,
    spread,
    std_quartiles,
)
from interpface.analysis.warp import to_template_batch
from interpface.errors import CacheError, InterpfaceError
from interpface.faces.occlusion import OcclusionRect
from interpface.faces.template import Template, default_template
from interpface.models.face_model import FaceModel

__all__ = ["AnalysisResult", "run_analysis", "compute_metrics", "bootstrap_metrics", "ANALYSIS_FILE", "METRICS_FILE"]

ANALYSIS_FILE = "analysis.npz"
METRICS_FILE = "metrics.json"
#: Scalar metrics that the bootstrap over images reports a spread for.
BOOTSTRAP_KEYS = (
    "spread_pos",
    "spread_neg",
    "hull_fraction_pos",
    "hull_fraction_neg",
    "regions_covered_pos",
    "regions_covered_neg",
    "median_peak_std_pos",
    "median_peak_std_neg",
)


@dataclass
class AnalysisResult:
    """Everything measured for one model on N faces.

    template_xy: (N, K, 2, 2) float32 peak locations in template pixels [image, filter, sign, (x, y)];
    crop_xy: (N, K, 2, 2) float32 the same peaks in aligned-crop pixels; weight: (N, K, 2) float32 peak
    magnitudes (0 = no peak of that sign); f: (N, K) float32 clean embeddings; landmarks: (N, 68, 2);
    mean_xy: (K, 2, 2) per-filter weighted mean location (template px; NaN without peaks); std: (K, 2)
    per-filter peak-location std (template px); total_weight: (K, 2); mean_face: (110, 110, 3) uint8
    average aligned crop; differences: mean feature differences per occluder (None when skipped);
    metrics: :func:`compute_metrics` (+ "bootstrap"); meta: model, images, timings.
    """

    template_xy: np.ndarray
    crop_xy: np.ndarray
    weight: np.ndarray
    f: np.ndarray
    landmarks: np.ndarray
    mean_xy: np.ndarray
    std: np.ndarray
    total_weight: np.ndarray
    mean_face: np.ndarray
    relpaths: list[str] = field(default_factory=list)
    identities: list[str] = field(default_factory=list)
    differences: FeatureDifferences | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_images(self) -> int:
        return int(self.weight.shape[0])

    @property
    def n_filters(self) -> int:
        return int(self.weight.shape[1])

    def valid(self) -> np.ndarray:
        """(N, K, 2) bool: the image has a peak of that sign for that filter."""
        return self.weight > 0

    # -- files ---------------------------------------------------------------------------------------
    def save(self, out_dir: str | os.PathLike) -> Path:
        """Write ``analysis.npz`` (arrays) and ``metrics.json`` (metrics + meta) into out_dir."""
        from interpface.files import write_json

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        arrays = dict(
            template_xy=self.template_xy,
            crop_xy=self.crop_xy,
            weight=self.weight,
            f=self.f,
            landmarks=self.landmarks,
            mean_xy=self.mean_xy,
            std=self.std,
            total_weight=self.total_weight,
            mean_face=self.mean_face,
            relpaths=np.array(self.relpaths, dtype=str),
            identities=np.array(self.identities, dtype=str),
        )
        d = self.differences
        if d is not None:
            arrays.update(
                diff_names=np.array(d.names, dtype=str),
                diff_rects=d.rect_array(),
                diff_mean_abs=d.mean_abs,
                diff_image_mean=d.image_mean,
            )
        tmp = out / f".{ANALYSIS_FILE}.tmp{os.getpid()}.npz"
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, out / ANALYSIS_FILE)
        write_json(out / METRICS_FILE, {**self.metrics, "meta": self.meta})
        return out

    @staticmethod
    def load(directory: str | os.PathLike) -> AnalysisResult:
        d = Path(directory)
        if not (d / ANALYSIS_FILE).is_file():
            raise CacheError(f"no analysis in {d} (expected {ANALYSIS_FILE}; run `interpface analyze`)")
        with np.load(d / ANALYSIS_FILE) as z:
            a = {k: z[k] for k in z.files}
        metrics = json.loads((d / METRICS_FILE).read_text()) if (d / METRICS_FILE).is_file() else {}
        meta = metrics.pop("meta", {})
        diffs = None
        if "diff_names" in a:
            rects = [OcclusionRect(*map(float, r)) for r in a["diff_rects"]]
            diffs = FeatureDifferences(
                [str(n) for n in a["diff_names"]], rects, a["diff_mean_abs"], a["diff_image_mean"]
            )
        return AnalysisResult(
            a["template_xy"],
            a["crop_xy"],
            a["weight"],
            a["f"],
            a["landmarks"],
            a["mean_xy"],
            a["std"],
            a["total_weight"],
            a["mean_face"],
            [str(r) for r in a["relpaths"]],
            [str(i) for i in a["identities"]],
            diffs,
            metrics,
            meta,
        )


def run_analysis(
    model: FaceModel,
    crops: np.ndarray,
    landmarks: np.ndarray,
    *,
    relpaths=None,
    identities=None,
    template: Template | None = None,
    batch_size: int = 32,
    regions: tuple[str, ...] | None = DEFAULT_REGIONS,
    locations: dict[str, OcclusionRect] | None = None,
    bootstrap: int = 100,
    seed: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
    meta: dict | None = None,
) -> AnalysisResult:
    """Analyse `model` (any FaceModel: its default response layer's channels are the filters — ours:
    the part filters psi' — and f their spatial means, :meth:`FaceModel.filter_features`) on aligned faces.

    crops: (N, 110, 110, 3) uint8; landmarks: (N, 68, 2) crop pixels; regions: named regions to occlude
    for the feature differences (None or () = skip them); locations: more occluders (name -> template
    rectangle, e.g. :func:`location_grid`) for Fig. 7; bootstrap: resamples of the images for the spread
    of the metrics (0 = none); progress(step, done, total) is called after each batch.
    """
    crops, landmarks = check_crops(crops, landmarks)
    template = template or default_template()
    n = len(crops)
    if n == 0:
        raise InterpfaceError("run_analysis needs at least one image")
    respond = model.layer_responses
    k = None
    timings = {"forward_peaks": 0.0, "warp": 0.0}
    face_sum = np.zeros(crops.shape[1:], np.float64)
    t_start = time.perf_counter()
    with torch.inference_mode():
        for sl in batch_slices(n, batch_size):
            t0 = time.perf_counter()
            batch = np.asarray(crops[sl])
            psi_smooth, f_batch, centers = respond(batch, landmarks[sl])
            idx, val = find_peaks(psi_smooth)
            del psi_smooth
            w = peak_weights(val.float())
            if k is None:
                k = int(idx.shape[1])
                template_xy = np.empty((n, k, 2, 2), np.float32)
                crop_xy = np.empty((n, k, 2, 2), np.float32)
                weight = np.empty((n, k, 2), np.float32)
                f = np.empty((n, k), np.float32)
            idx_np = idx.numpy()
            weight[sl] = w.numpy()
            f[sl] = f_batch.float().numpy()
            b = idx_np.shape[0]
            # centers: (G*G, 2) shared cell centres in crop pixels, or (b, G*G, 2) per face
            crop_xy[sl] = (
                centers[idx_np]
                if centers.ndim == 2
                else np.take_along_axis(centers, idx_np.reshape(b, -1)[..., None], axis=1).reshape(b, k, 2, 2)
            )
            face_sum += batch.sum(axis=0, dtype=np.float64)
            t1 = time.perf_counter()
            grid_xy = to_template_batch(template.mesh, centers, landmarks[sl])  # (b, G*G, 2)
            template_xy[sl] = np.take_along_axis(grid_xy, idx_np.reshape(b, -1)[..., None], axis=1).reshape(b, k, 2, 2)
            timings["forward_peaks"] += t1 - t0
            timings["warp"] += time.perf_counter() - t1
            if progress is not None:
                progress("peaks", sl.stop, n)
    t0 = time.perf_counter()
    mean_xy, std, total = filter_location_stats(template_xy, weight)
    result = AnalysisResult(
        template_xy,
        crop_xy,
        weight,
        f,
        landmarks.astype(np.float32),
        mean_xy,
        std,
        total,
        np.round(face_sum / n).astype(np.uint8),
        list(relpaths or []),
        list(identities or []),
    )
    result.metrics = compute_metrics(result, template)
    timings["stats"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if bootstrap:
        result.metrics["bootstrap"] = bootstrap_metrics(result, template, n_boot=bootstrap, seed=seed)
    timings["bootstrap"] = time.perf_counter() - t0
    timings["analysis_total"] = time.perf_counter() - t_start
    occluders = dict(region_rects(regions, template)) if regions else {}
    occluders.update(locations or {})
    if occluders:
        t0 = time.perf_counter()
        done = [0]

        def tick(m):
            done[0] += m
            if progress is not None:
                progress("occlusions", done[0], n * len(occluders))

        result.differences = feature_differences(
            model, crops, landmarks, occluders, f_clean=f, batch_size=batch_size, template=template, progress=tick
        )
        result.metrics.update(_difference_metrics(result))
        if bootstrap:
            result.metrics["bootstrap"].update(_bootstrap_differences(result, bootstrap, seed))
        timings["feature_differences"] = time.perf_counter() - t0
    result.meta = {
        **(meta or {}),
        "n_images": n,
        "n_filters": k,
        "template_digest": template.digest,
        "input_size": int(model.input_size),
        "batch_size": batch_size,
        "timings": timings,
        "occluders": {nm: r.to_dict() for nm, r in occluders.items()},
    }
    return result


def compute_metrics(result: AnalysisResult, template: Template | None = None) -> dict[str, Any]:
    """The per-model numbers (definitions in :mod:`interpface.analysis.summaries` and ``peaks``)."""
    template = template or default_template()
    m: dict[str, Any] = {"n_images": result.n_images, "n_filters": result.n_filters}
    valid = result.valid()
    for s, sign in enumerate(SIGNS):
        mu, sd = result.mean_xy[:, s], result.std[:, s]
        q = std_quartiles(sd)
        m[f"spread_{sign}"] = spread(mu)
        m[f"hull_fraction_{sign}"] = hull_fraction(mu, template)
        m[f"regions_covered_{sign}"] = regions_covered(mu, template)
        m[f"region_counts_{sign}"] = region_counts(mu, template)
        m[f"median_peak_std_{sign}"] = q["median"]
        m[f"peak_std_q1_{sign}"] = q["q1"]
        m[f"peak_std_q3_{sign}"] = q["q3"]
        m[f"filters_with_peaks_{sign}"] = int(np.isfinite(sd).sum())
        m[f"peak_presence_{sign}"] = float(valid[..., s].mean())
    size = int(result.meta.get("input_size", 96)) if result.meta else 96
    diag = size * np.sqrt(2.0)
    m["location_instability"], _ = location_instability(
        result.crop_xy[:, :, 0], valid[..., 0], result.landmarks, diagonal=diag
    )
    m["location_instability_neg"], _ = location_instability(
        result.crop_xy[:, :, 1], valid[..., 1], result.landmarks, diagonal=diag
    )
    m["coverage_regions"] = list(COVERAGE_REGIONS)
    if result.differences is not None:
        m.update(_difference_metrics(result))
    return m


def _difference_metrics(result: AnalysisResult) -> dict[str, Any]:
    d = result.differences
    scale = float(np.abs(result.f).mean()) or 1.0
    out: dict[str, dict] = {
        "mean_feature_difference": {},
        "max_feature_difference": {},
        "relative_feature_difference": {},
        "feature_difference_dims_50": {},
        "feature_difference_dims_90": {},
    }
    for name, vec in d.by_name().items():
        s = difference_summary(vec)
        out["mean_feature_difference"][name] = s["mean"]
        out["max_feature_difference"][name] = s["max"]
        out["relative_feature_difference"][name] = s["mean"] / scale
        out["feature_difference_dims_50"][name] = s["dims_50"]
        out["feature_difference_dims_90"][name] = s["dims_90"]
    out["mean_abs_f"] = scale
    return out


def bootstrap_metrics(
    result: AnalysisResult, template: Template | None = None, *, n_boot: int = 100, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Spread over images: resample the N images with replacement n_boot times, recompute the per-filter
    means / stds and the metrics in BOOTSTRAP_KEYS; returns {metric: {"mean", "std", "lo", "hi"}} (lo/hi
    = 2.5 / 97.5 percentiles)."""
    template = template or default_template()
    rng = np.random.default_rng(seed)
    n = result.n_images
    values: dict[str, list[float]] = {key: [] for key in BOOTSTRAP_KEYS}
    xy = result.template_xy.astype(np.float64)  # (N, K, S, 2)
    w = result.weight.astype(np.float64)  # (N, K, S)
    # Per-image sums, so every resample is one matrix product: counts (B, N) @ moments (N, K*S*4).
    moments = np.stack([w, w * xy[..., 0], w * xy[..., 1], w * (xy**2).sum(axis=-1)], axis=-1).reshape(n, -1)
    k = w.shape[1]
    for start in range(0, n_boot, 50):
        b = min(50, n_boot - start)
        counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(b)]).astype(np.float64)
        sums = (counts @ moments).reshape(b, k, 2, 4)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_xy = sums[..., 1:3] / sums[..., :1]
            var = sums[..., 3] / sums[..., 0] - (mean_xy**2).sum(axis=-1)
        std = np.sqrt(np.maximum(var, 0.0))
        for r in range(b):
            for s, sign in enumerate(SIGNS):
                mu = mean_xy[r, :, s]
                values[f"spread_{sign}"].append(spread(mu))
                values[f"hull_fraction_{sign}"].append(hull_fraction(mu, template))
                values[f"regions_covered_{sign}"].append(regions_covered(mu, template))
                values[f"median_peak_std_{sign}"].append(std_quartiles(std[r, :, s])["median"])
    return {key: _summ(v) for key, v in values.items()}


def _summ(v) -> dict[str, float]:
    a = np.asarray(v, dtype=np.float64)
    a = a[np.isfinite(a)]
    if len(a) == 0:
        return {"mean": float("nan"), "std": float("nan"), "lo": float("nan"), "hi": float("nan"), "n": 0}
    return {
        "mean": float(a.mean()),
        "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
        "lo": float(np.percentile(a, 2.5)),
        "hi": float(np.percentile(a, 97.5)),
        "n": int(len(a)),
    }


def _bootstrap_differences(result: AnalysisResult, n_boot: int, seed: int) -> dict[str, dict]:
    d = result.differences
    rng = np.random.default_rng(seed + 1)
    n = d.image_mean.shape[1]
    samples = np.stack([d.image_mean[:, rng.integers(0, n, n)].mean(axis=1) for _ in range(n_boot)])  # (B, L)
    return {f"mean_feature_difference/{name}": _summ(samples[:, i]) for i, name in enumerate(d.names)}


def _bar(desc: str, total: int, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", disable=quiet, leave=False)


def analyze_checkpoint(
    checkpoint,
    faces,
    *,
    name: str | None = None,
    regions=None,
    grid: int = 0,
    bootstrap: int = 100,
    batch_size: int = 32,
    seed: int = 0,
    quiet: bool = True,
):
    """Resolve a model URI (or take a FaceModel) and run :func:`run_analysis` on `faces` (a
    :class:`Faces`), with tqdm bars. Returns (model, AnalysisResult)."""
    from interpface.analysis.feature_difference import DEFAULT_REGIONS, location_grid
    from interpface.models.registry import model_display_name, resolve_model

    model = resolve_model(checkpoint)
    info = getattr(model, "info", {})
    bars: dict[str, Any] = {}

    def progress(step, done, total):
        if step not in bars:
            bars[step] = _bar(f"{name or 'model'}: {step}", total, quiet)
        bars[step].update(done - bars[step].n)

    regions = DEFAULT_REGIONS if regions is None else regions
    try:
        result = run_analysis(
            model,
            faces.crops,
            faces.landmarks,
            relpaths=faces.relpaths,
            identities=faces.identities,
            regions=tuple(regions),
            locations=location_grid(n=grid) if grid else None,
            bootstrap=bootstrap,
            batch_size=batch_size,
            seed=seed,
            progress=progress,
            meta={
                "checkpoint": str(checkpoint),
                "name": name or model_display_name(checkpoint),
                "model_config": info.get("model"),
                "image_seed": seed,
                # which weights were analysed: lets scripts tell a stale analysis
                "checkpoint_sha256": info.get("sha256"),
            },
        )
    finally:
        for b in bars.values():
            b.close()
    return model, result
