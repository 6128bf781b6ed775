"""Compact precomputed analyses, shipped in ``assets/analyses/`` so the dashboard can show a model's
analyses on a fresh machine without the dataset.

``<name>.npz`` (float32 arrays, compressed; well under 1 MB) + ``<name>.json`` (metrics, bootstrap
spreads, provenance):

    mean_xy (K, 2, 2)       per-filter average peak location [filter, sign, (x, y)], template pixels
    std (K, 2)              per-filter peak-location std, template pixels
    total_weight (K, 2)     sum of peak magnitudes over the images
    peak_presence (K, 2)    fraction of images where the filter has a peak of that sign
    hist_edges (B+1,), hist_counts (2, B)   histograms of std (Fig. 9; values above the last edge are
                            counted in the last bin)
    diff_names (L,), diff_rects (L, 5), diff_mean_abs (L, K)   mean |f(I) - f(I^)| per occluder
    mean_face (110, 110, 3) uint8   average aligned crop of the analysed images (figure background)
    peak_cov (K, 2, 2, 2)   per-filter, per-sign covariance of the peak location (the std ellipse)
    top_index (K, T) int32, top_value (K, T), top_peak_xy (K, T, 2), top_relpaths (K, T) str,
    top_thumbs (B,) uint8   the T faces each filter fires on most (positive peak): analysis rows, peak
                            magnitudes, peaks in crop pixels, image paths, and a JPEG mosaic of 32 px
                            crops around the peaks (see :mod:`.top_faces`)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interpface.analysis.feature_difference import FeatureDifferences
from interpface.analysis.run import AnalysisResult
from interpface.analysis.top_faces import TopFaces, decode_thumbs, encode_thumbs, peak_covariance, top_faces
from interpface.errors import CacheError
from interpface.faces.occlusion import OcclusionRect
from interpface.files import assets_dir

__all__ = [
    "PrecomputedAnalysis",
    "precomputed_dir",
    "save_precomputed",
    "load_precomputed",
    "list_precomputed",
    "HIST_EDGES",
]

#: Std histogram bins (template pixels).
HIST_EDGES = np.linspace(0.0, 60.0, 31)


def precomputed_dir() -> Path:
    """``assets/analyses`` of the repository."""
    return assets_dir() / "analyses"


@dataclass
class PrecomputedAnalysis:
    """The compact form of an :class:`AnalysisResult` (same attribute names where they overlap, so
    figure functions take either)."""

    name: str
    mean_xy: np.ndarray
    std: np.ndarray
    total_weight: np.ndarray
    peak_presence: np.ndarray
    hist_edges: np.ndarray
    hist_counts: np.ndarray
    mean_face: np.ndarray
    differences: FeatureDifferences | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    peak_cov: np.ndarray | None = None
    top: TopFaces | None = None

    @property
    def n_filters(self) -> int:
        return int(self.std.shape[0])

    def __getitem__(self, key: str):
        """Dict-style access to the fields (pre["metrics"] is pre.metrics)."""
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    @staticmethod
    def from_result(result: AnalysisResult, name: str, crops: np.ndarray | None = None) -> PrecomputedAnalysis:
        """The compact form; with the analysed crops (N, 110, 110, 3) it keeps each filter's top faces."""
        counts = np.stack(
            [
                np.histogram(np.clip(s[np.isfinite(s)], HIST_EDGES[0], HIST_EDGES[-1]), HIST_EDGES)[0]
                for s in result.std.T
            ]
        )
        d = result.differences
        diffs = (
            None
            if d is None
            else FeatureDifferences(
                list(d.names),
                list(d.rects),
                d.mean_abs.astype(np.float32),
                np.zeros((len(d.names), 0), np.float32),
                dict(d.meta),
            )
        )
        return PrecomputedAnalysis(
            name,
            result.mean_xy.astype(np.float32),
            result.std.astype(np.float32),
            result.total_weight.astype(np.float32),
            result.valid().mean(axis=0).astype(np.float32),
            HIST_EDGES.astype(np.float32),
            counts.astype(np.int32),
            result.mean_face,
            diffs,
            dict(result.metrics),
            dict(result.meta),
            peak_covariance(result.template_xy, result.weight),
            None if crops is None else top_faces(crops, result.weight, result.crop_xy, result.relpaths),
        )


def save_precomputed(
    result: AnalysisResult | PrecomputedAnalysis,
    name: str,
    directory: str | os.PathLike | None = None,
    crops: np.ndarray | None = None,
) -> tuple[Path, Path]:
    """Write ``<directory>/<name>.npz`` and ``.json`` (default directory: assets/analyses); with the
    analysed crops it stores each filter's top faces too."""
    from interpface.files import write_json

    pre = result if isinstance(result, PrecomputedAnalysis) else PrecomputedAnalysis.from_result(result, name, crops)
    out = Path(directory) if directory is not None else precomputed_dir()
    out.mkdir(parents=True, exist_ok=True)
    arrays = dict(
        mean_xy=pre.mean_xy,
        std=pre.std,
        total_weight=pre.total_weight,
        peak_presence=pre.peak_presence,
        hist_edges=pre.hist_edges,
        hist_counts=pre.hist_counts,
        mean_face=pre.mean_face,
    )
    if pre.differences is not None:
        arrays.update(
            diff_names=np.array(pre.differences.names, dtype=str),
            diff_rects=pre.differences.rect_array().astype(np.float32),
            diff_mean_abs=pre.differences.mean_abs.astype(np.float32),
        )
    if pre.peak_cov is not None:
        arrays["peak_cov"] = pre.peak_cov.astype(np.float32)
    if pre.top is not None:
        arrays.update(
            top_index=pre.top.index,
            top_value=pre.top.value,
            top_peak_xy=pre.top.peak_xy,
            top_relpaths=np.asarray(pre.top.relpaths, dtype=str),
            top_thumbs=encode_thumbs(pre.top.thumbs),
        )
    npz = out / f"{name}.npz"
    tmp = out / f".{name}.tmp{os.getpid()}.npz"
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, npz)
    js = out / f"{name}.json"
    write_json(js, {"name": name, "metrics": pre.metrics, "meta": pre.meta})
    return npz, js


def _resolve(name_or_path: str | os.PathLike, directory) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".npz", ".json"):
        p = p.with_suffix("")
    elif p.parent == Path(".") and not p.exists():
        p = (Path(directory) if directory is not None else precomputed_dir()) / p.name
    return p


def load_precomputed(
    name_or_path: str | os.PathLike, directory: str | os.PathLike | None = None
) -> PrecomputedAnalysis:
    """A precomputed analysis by name (in assets/analyses or `directory`) or by path (with or without
    the .npz/.json suffix). Raises CacheError when missing."""
    stem = _resolve(name_or_path, directory)
    npz, js = stem.with_suffix(".npz"), stem.with_suffix(".json")
    if not npz.is_file() or not js.is_file():
        raise CacheError(
            f"no precomputed analysis {stem} (.npz + .json); write one with "
            f"`interpface analyze --checkpoint DIR --precompute NAME`"
        )
    info = json.loads(js.read_text())
    with np.load(npz) as z:
        a = {k: z[k] for k in z.files}
    diffs = None
    if "diff_names" in a:
        diffs = FeatureDifferences(
            [str(n) for n in a["diff_names"]],
            [OcclusionRect(*map(float, r)) for r in a["diff_rects"]],
            a["diff_mean_abs"],
            np.zeros((len(a["diff_names"]), 0), np.float32),
        )
    top = None
    if "top_index" in a:  # analyses written before the filter card have no top faces
        k, t = a["top_index"].shape
        top = TopFaces(
            a["top_index"], a["top_value"], a["top_peak_xy"], decode_thumbs(a["top_thumbs"], k, t), a["top_relpaths"]
        )
    return PrecomputedAnalysis(
        str(info.get("name", stem.name)),
        a["mean_xy"],
        a["std"],
        a["total_weight"],
        a["peak_presence"],
        a["hist_edges"],
        a["hist_counts"],
        a["mean_face"],
        diffs,
        info.get("metrics", {}),
        info.get("meta", {}),
        a.get("peak_cov"),
        top,
    )


def list_precomputed(directory: str | os.PathLike | None = None) -> list[str]:
    """Names of the precomputed analyses available (sorted)."""
    d = Path(directory) if directory is not None else precomputed_dir()
    if not d.is_dir():
        return []
    return sorted(p.stem for p in d.glob("*.npz") if p.with_suffix(".json").is_file())
