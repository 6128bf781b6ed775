"""Error rates per slice of a verification set, with identity-cluster bootstrap intervals.

A *slice* is a set of images (those whose detector was MMOD, whose yaw is in a bin, who wear
glasses, ...) or one occluder condition. A pair belongs to an image slice when either of its two
faces does (``membership="any"``, default) or when both do (``"both"``); to a condition slice when it
was scored under that condition. Numeric columns are cut into quantile bins, categorical ones are
taken as they are.

Rates are read at *fixed* thresholds (the whole set's operating points, e.g. the threshold of FAR =
1e-3 on all pairs): per slice, the false reject rate (FRR: genuine pairs scored below the threshold)
and the false accept rate (FAR: impostor pairs at or above it). Their intervals come from an identity
cluster bootstrap, as for AUC / TAR in :mod:`.metrics`: people are resampled with replacement; a
genuine pair weighs its person's multiplicity, an impostor pair the product of its two people's. The
same resamples give the spread of (slice - whole set), so a slice is "beyond" when the whole set's
rate lies outside the slice's interval.

Two pair layouts: *all pairs* among a set of images (LFW DevTest: 6.9 M pairs; the pair totals of a
slice are computed from per-identity image counts, never pair by pair) and *explicit* pairs (a pairs
file). Either way only the errors are listed pair by pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from interpface.errors import ConfigError

__all__ = [
    "Slice",
    "image_slices",
    "bin_numeric",
    "condition_slices",
    "PairLayout",
    "ErrorRows",
    "slice_rates",
    "DEFAULT_BINS",
    "LEVEL",
]

DEFAULT_BINS = 4
LEVEL = 0.95  # two-sided interval of the bootstrap percentiles
MAX_CATEGORIES = 30  # a categorical column keeps its most frequent values


@dataclass
class Slice:
    """column: what is sliced ("yaw", "detector", "condition", "meta:group", ...); value: the category
    or the bin's label; kind: "category", "bin" or "condition"; images: (M,) bool over the images, None
    for a condition slice (every image); condition: index of the condition, None for an image slice
    (every condition); order: position of a bin within its column."""

    column: str
    value: str
    kind: str
    images: np.ndarray | None = None
    condition: int | None = None
    order: int = 0

    @property
    def name(self) -> str:
        return f"{self.column} = {self.value}"


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1e4 else f"{x:.0f}"


def bin_numeric(values: np.ndarray, n_bins: int = DEFAULT_BINS) -> tuple[np.ndarray, list[str]]:
    """Quantile bins of a numeric column: (bin index (M,) int, -1 where NaN; labels of the bins).
    Bins are [lo, hi) with the last one closed; repeated quantiles merge bins."""
    v = np.asarray(values, np.float64)
    ok = np.isfinite(v)
    idx = np.full(len(v), -1, np.int64)
    if not ok.any():
        return idx, []
    edges = np.unique(np.quantile(v[ok], np.linspace(0, 1, max(1, n_bins) + 1)))
    if len(edges) == 1:
        idx[ok] = 0
        return idx, [_fmt(edges[0])]
    idx[ok] = np.clip(np.searchsorted(edges, v[ok], side="right") - 1, 0, len(edges) - 2)
    labels = [
        f"[{_fmt(lo)}, {_fmt(hi)}{']' if k == len(edges) - 2 else ')'}"
        for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:]))
    ]
    return idx, labels


def _is_numeric(values) -> np.ndarray | None:
    """The column as float64 when every non-missing value is a number, else None."""
    arr = np.asarray(values, dtype=object)
    out = np.full(len(arr), np.nan)
    for i, v in enumerate(arr):
        if v is None or (isinstance(v, str) and not v.strip()):
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            return None
    return out


def image_slices(
    columns: dict[str, Sequence], n_bins: int = DEFAULT_BINS, max_categories: int = MAX_CATEGORIES
) -> list[Slice]:
    """Slices of per-image columns ({name: (M,) values}). A numeric column (numbers, NaN / None / ""
    missing) with more distinct values than 2 x n_bins is cut into quantile bins; any other column is
    categorical (None / "" missing), its max_categories most frequent values kept. Missing values are
    in no slice."""
    out: list[Slice] = []
    for name, values in columns.items():
        num = _is_numeric(values)
        distinct = np.unique(num[np.isfinite(num)]) if num is not None else None
        if num is not None and len(distinct) > 2 * n_bins:
            idx, labels = bin_numeric(num, n_bins)
            out += [Slice(name, lab, "bin", idx == k, order=k) for k, lab in enumerate(labels)]
            continue
        if num is not None:  # few distinct numbers: one slice each, in numeric order
            for k, x in enumerate(distinct):
                out.append(Slice(name, _fmt(x), "category", num == x, order=k))
            continue
        text = np.array(["" if v is None else str(v).strip() for v in values], dtype=object)
        cats, counts = np.unique(text[text != ""], return_counts=True)
        keep = cats[np.argsort(-counts, kind="stable")][:max_categories]
        for k, c in enumerate(sorted(keep)):
            out.append(Slice(name, str(c), "category", text == c, order=k))
    return out


def condition_slices(conditions: Sequence[str]) -> list[Slice]:
    """One slice per occluder condition (only when there are several)."""
    if len(conditions) < 2:
        return []
    return [Slice("condition", c, "condition", None, condition=k, order=k) for k, c in enumerate(conditions)]


# ------------------------------------------------------------------------------------------ counting
@dataclass
class PairLayout:
    """Which pairs are scored. groups: (M,) identity id of every image (dense ints, -1 unknown) or None;
    usable: (M,) bool. Explicit pairs: a, b (P,) image positions and same (P,) bool; None: every pair
    i < j among the usable images (genuine = same identity). n_conditions: every pair is scored under
    each condition."""

    groups: np.ndarray | None
    usable: np.ndarray
    n_conditions: int = 1
    a: np.ndarray | None = None
    b: np.ndarray | None = None
    same: np.ndarray | None = None

    def __post_init__(self):
        if self.a is None and self.groups is None:
            raise ConfigError("all pairs among images need identities")
        if self.groups is not None:
            self.groups = np.asarray(self.groups, np.int64)
            self.n_groups = int(self.groups.max()) + 1 if len(self.groups) else 0

    @property
    def explicit(self) -> bool:
        return self.a is not None


@dataclass
class ErrorRows:
    """The errors at one threshold: a, b (E,) image positions, condition (E,) index, genuine (E,) bool
    (True: a false reject, False: a false accept)."""

    a: np.ndarray
    b: np.ndarray
    condition: np.ndarray
    genuine: np.ndarray = field(default=None)


def _member(sl: Slice, a: np.ndarray, b: np.ndarray, cond: np.ndarray, membership: str) -> np.ndarray:
    """(R,) bool: the rows (pairs a-b scored under condition cond) that belong to the slice."""
    m = np.ones(len(a), bool)
    if sl.images is not None:
        m = (sl.images[a] | sl.images[b]) if membership == "any" else (sl.images[a] & sl.images[b])
    if sl.condition is not None:
        m &= cond == sl.condition
    return m


def _draws(layout: PairLayout, n_resamples: int, seed: int) -> tuple[np.ndarray, bool]:
    """(n_resamples + 1, K) multiplicities: row 0 all ones (the point estimate), then one resample per
    row — of identities (K = identities; by_identity True) when every image's is known, else of the
    explicit pairs (K = pairs)."""
    rng = np.random.default_rng(seed)
    by_identity = layout.groups is not None and layout.n_groups > 0 and bool((layout.groups >= 0).all())
    if by_identity:
        k = layout.n_groups
    else:
        if not layout.explicit:
            raise ConfigError("all pairs among images need the identity of every image")
        k = len(layout.a)
    m = np.ones((n_resamples + 1, k), np.float64)
    for r in range(1, n_resamples + 1):
        m[r] = np.bincount(rng.integers(0, k, k), minlength=k)
    return m, by_identity


def _row_weights(layout: PairLayout, m: np.ndarray, by_identity: bool, a, b, genuine, pair_index) -> np.ndarray:
    """(R, B) weight of each row under each draw: its person's multiplicity (genuine), the product of
    its two people's (impostor); or, resampling pairs, its pair's multiplicity."""
    if not by_identity:
        return m[:, pair_index].T.copy()
    w = m[:, layout.groups[a]].T  # (R, B)
    imp = ~genuine
    w[imp] *= m[:, layout.groups[b[imp]]].T
    return w


_SLICE_BLOCK = 64  # slices whose membership matrix is built at once


def _sums(slices: list[Slice], a, b, cond, w: np.ndarray, membership: str) -> np.ndarray:
    """(S, B): the summed weights w (R, B) of the rows in each slice (a membership matmul per block)."""
    out = np.zeros((len(slices), w.shape[1]))
    for start in range(0, len(slices), _SLICE_BLOCK):
        block = slices[start : start + _SLICE_BLOCK]
        mem = np.stack([_member(sl, a, b, cond, membership) for sl in block]).astype(np.float64)
        out[start : start + len(block)] = mem @ w
    return out


def _pair_totals(layout: PairLayout, m: np.ndarray, by_identity: bool, slices: list[Slice], membership: str):
    """(genuine totals, impostor totals), each (S + 1, B): every slice, then the whole set, under each draw."""
    c = layout.n_conditions
    scale = np.array([1 if sl.condition is not None else c for sl in slices] + [c], np.float64)[:, None]
    if layout.explicit:
        pidx = np.arange(len(layout.a))
        ok = layout.usable[layout.a] & layout.usable[layout.b]
        a, b, same, pidx = layout.a[ok], layout.b[ok], layout.same[ok], pidx[ok]
        w = _row_weights(layout, m, by_identity, a, b, same, pidx)  # (P, B)
        cond = np.full(len(a), -1, np.int64)  # a condition slice holds every pair once
        plain = [Slice(sl.column, sl.value, sl.kind, sl.images) for sl in slices]
        gen = np.vstack([_sums(plain, a, b, cond, w * same[:, None], membership), w[same].sum(0)[None]])
        imp = np.vstack([_sums(plain, a, b, cond, w * ~same[:, None], membership), w[~same].sum(0)[None]])
        return gen * scale, imp * scale
    # all pairs i < j among the usable images: totals from per-identity counts
    groups = layout.groups[layout.usable]
    g = layout.n_groups

    def counts(mask):  # (G,) images of each identity among the usable ones in mask
        return np.bincount(groups[mask[layout.usable]], minlength=g).astype(np.float64)

    def totals(n):  # n: (K, G) image counts -> genuine (K, B), impostor (K, B)
        gen = (n * (n - 1) / 2.0) @ m.T
        s1 = n @ m.T
        imp = 0.5 * (s1 * s1 - (n * n) @ (m * m).T)
        return gen, imp

    everyone = counts(np.ones(len(layout.usable), bool))
    inside = np.stack([counts(sl.images) if sl.images is not None else everyone for sl in slices] + [everyone])
    if membership == "any":
        g_all, i_all = totals(everyone[None])
        g_out, i_out = totals(everyone[None] - inside)
        gen, imp = g_all - g_out, i_all - i_out
    else:
        gen, imp = totals(inside)
    return gen * scale, imp * scale


_ROW_CHUNK = 50_000  # error rows weighted at once (bounds memory: rows x resamples)


def _error_counts(layout, m, by_identity, errors: ErrorRows, slices: list[Slice], membership: str, pair_index):
    """(false rejects, false accepts), each (S + 1, B)."""
    fr = np.zeros((len(slices) + 1, m.shape[0]))
    fa = np.zeros_like(fr)
    for start in range(0, len(errors.a), _ROW_CHUNK):
        part = slice(start, start + _ROW_CHUNK)
        a, b, cond, gen = errors.a[part], errors.b[part], errors.condition[part], errors.genuine[part]
        pidx = None if pair_index is None else pair_index[part]
        w = _row_weights(layout, m, by_identity, a, b, gen, pidx)  # (E, B)
        w_fr, w_fa = w * gen[:, None], w * ~gen[:, None]
        fr[:-1] += _sums(slices, a, b, cond, w_fr, membership)
        fa[:-1] += _sums(slices, a, b, cond, w_fa, membership)
        fr[-1] += w_fr.sum(0)
        fa[-1] += w_fa.sum(0)
    return fr, fa


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _interval(values: np.ndarray, level: float = LEVEL) -> list[float] | None:
    v = values[np.isfinite(values)]
    if len(v) < 2:
        return None
    q = (1.0 - level) / 2.0
    return [float(np.quantile(v, q)), float(np.quantile(v, 1.0 - q))]


def slice_rates(
    layout: PairLayout,
    slices: list[Slice],
    errors: dict[str, ErrorRows],
    *,
    membership: str = "any",
    n_resamples: int = 100,
    seed: int = 0,
    min_pairs: int = 10,
    min_identities: int = 3,
    error_pair_index: dict[str, np.ndarray] | None = None,
) -> dict:
    """FRR and FAR of every slice and of the whole set at each threshold, with bootstrap intervals.

        errors: {key (e.g. the FAR "0.001"): ErrorRows at that threshold}; error_pair_index: for explicit
        pairs without identities, each error row's pair index (the pair bootstrap resamples pairs).
        Returns {"whole": {key: {...}}, "slices": {key: [one dict per slice, worst FRR first]}, "kind",
        "n_resamples", "level", "membership"}. A slice dict: column, value, kind, order, n_images,
        n_identities (None without identities), n_genuine, n_impostor, n_false_rejects, n_false_accepts, frr, frr_ci, frr_diff, frr_diff_ci,
        frr_beyond, and the same for far; a rate is None where the slice has fewer than min_pairs pairs of
        its kind, or (identities known) whose faces show fewer than min_identities people: an interval over
    resampled people needs several of them (such a slice is listed, unranked, at the end)."""
    if membership not in ("any", "both"):
        raise ConfigError(f"membership must be 'any' or 'both', got {membership!r}")
    m, by_identity = _draws(layout, n_resamples, seed)
    kind = "identity cluster bootstrap" if by_identity else "pair bootstrap"
    gen_tot, imp_tot = _pair_totals(layout, m, by_identity, slices, membership)
    people = [
        len(np.unique(layout.groups[layout.usable & (sl.images if sl.images is not None else True)]))
        if by_identity
        else None
        for sl in slices
    ]
    whole_out, slices_out = {}, {}
    for key, err in errors.items():
        pidx = None if error_pair_index is None else error_pair_index[key]
        fr, fa = _error_counts(layout, m, by_identity, err, slices, membership, pidx)
        frr, far = _ratio(fr, gen_tot), _ratio(fa, imp_tot)  # (S + 1, B)
        whole_out[key] = {
            "n_genuine": int(round(gen_tot[-1, 0])),
            "n_impostor": int(round(imp_tot[-1, 0])),
            "n_false_rejects": int(round(fr[-1, 0])),
            "n_false_accepts": int(round(fa[-1, 0])),
            "frr": float(frr[-1, 0]),
            "frr_ci": _interval(frr[-1, 1:]),
            "far": float(far[-1, 0]),
            "far_ci": _interval(far[-1, 1:]),
        }
        rows = []
        for s, sl in enumerate(slices):
            row = {
                "column": sl.column,
                "value": sl.value,
                "kind": sl.kind,
                "order": sl.order,
                "n_images": int(sl.images[layout.usable].sum()) if sl.images is not None else int(layout.usable.sum()),
                "n_identities": people[s],
                "n_genuine": int(round(gen_tot[s, 0])),
                "n_impostor": int(round(imp_tot[s, 0])),
                "n_false_rejects": int(round(fr[s, 0])),
                "n_false_accepts": int(round(fa[s, 0])),
            }
            varied = people[s] is None or people[s] >= min_identities
            for rate, values, enough in (
                ("frr", frr, varied and gen_tot[s, 0] >= min_pairs),
                ("far", far, varied and imp_tot[s, 0] >= min_pairs),
            ):
                if not enough or not np.isfinite(values[s, 0]):
                    row.update({rate: None, f"{rate}_ci": None, f"{rate}_diff": None, f"{rate}_diff_ci": None})
                    row[f"{rate}_beyond"] = False
                    continue
                ci = _interval(values[s, 1:])
                whole = values[-1, 0]
                row.update(
                    {
                        rate: float(values[s, 0]),
                        f"{rate}_ci": ci,
                        f"{rate}_diff": float(values[s, 0] - whole),
                        f"{rate}_diff_ci": _interval(values[s, 1:] - values[-1, 1:]),
                        f"{rate}_beyond": bool(ci is not None and not (ci[0] <= whole <= ci[1])),
                    }
                )
            rows.append(row)
        rows.sort(key=lambda r: (r["frr"] is None, -(r["frr"] or 0.0), -(r["far"] or 0.0)))
        slices_out[key] = rows
    return {
        "whole": whole_out,
        "slices": slices_out,
        "kind": kind,
        "n_resamples": n_resamples,
        "level": LEVEL,
        "membership": membership,
    }
