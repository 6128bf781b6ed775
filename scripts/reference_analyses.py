#!/usr/bin/env python
"""Analyse the reference models and write the analysis table of docs/results.md.

For each variant (base, base_aug, sad, fad, full) whose checkpoint exists in assets/models/<variant>/:
run `interpface analyze` on 1,000 LFW DevTest faces (skipped when assets/analyses/<variant>.json already
exists with top faces and, where recorded, the same weights' sha256 — unless --force), keeping the full arrays in runs/analysis/<variant>/ and the compact
precomputed form in assets/analyses/<variant>.{npz,json}. Then print, as Markdown, the numbers per
model (± bootstrap std over images) and whether the paper's claims hold:

1. SAD and SAD+FAD spread the filters more than the base model (spread, hull fraction);
2. their peak-location stds are smaller (median per-filter std);
3. occlusion changes fewer dimensions (dims_50: dimensions holding half the change), and by less
   (mean |f(I) - f(I^)| relative to mean |f|, so models with different feature scales compare).

    .venv/bin/python scripts/reference_analyses.py [--images 1000] [--force] [--variants base,sad,full] [--docs]

--docs also writes the table into docs/results.md, between its `<!-- BEGIN reference_analyses.py -->` /
`<!-- END ... -->` markers.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("base", "base_aug", "sad", "fad", "full", "dlib_port")
#: black-box models analysed through their adapter (the channels of their default layer as filters)
BLACK_BOXES = {"dlib_port": "dlib-resnet"}


def fmt(m: dict, key: str, digits: int = 2) -> str:
    v = m.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)):  # e.g. no negative peaks (ReLU outputs)
        return "–"
    sd = ((m.get("bootstrap") or {}).get(key) or {}).get("std")
    return f"{v:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd is not None else "")


def mean_over_regions(m: dict, key: str, regions=("eyes", "nose", "mouth")) -> float | None:
    d = m.get(key) or {}
    vals = [d[r] for r in regions if r in d]
    return sum(vals) / len(vals) if vals else None


def _stale(pre: Path, ckpt: Path) -> bool:
    """No precomputed analysis, one without the filter card's top faces, or one of other (or unrecorded)
    weights."""
    import numpy as np

    if not pre.is_file() or not pre.with_suffix(".npz").is_file():
        return True
    with np.load(pre.with_suffix(".npz")) as z:
        if "top_index" not in z.files:
            return True
    analysed = json.loads(pre.read_text()).get("meta", {}).get("checkpoint_sha256")
    shipped = json.loads((ckpt / "config.json").read_text()).get("sha256")
    return analysed != shipped  # an analysis without a recorded digest counts as stale


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--docs", action="store_true", help="also write the table into docs/results.md")
    args = ap.parse_args()
    metrics = {}
    for v in args.variants.split(","):
        ckpt = ROOT / "assets" / "models" / v
        pre = ROOT / "assets" / "analyses" / f"{v}.json"
        if v not in BLACK_BOXES and not (ckpt / "model.safetensors").is_file():
            print(f"# {v}: no checkpoint in {ckpt}, skipped", file=sys.stderr)
            continue
        stale = _stale(pre, ckpt) if v not in BLACK_BOXES else not pre.is_file()
        if args.force or stale:
            cmd = [
                str(ROOT / ".venv" / "bin" / "interpface"),
                "analyze",
                "--checkpoint",
                BLACK_BOXES.get(v, str(ckpt)),
                "--name",
                v,
                "--images",
                str(args.images),
                "--out",
                str(ROOT / "runs" / "analysis" / v),
                "--precompute",
                v,
            ]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            subprocess.run(cmd, check=True)
        metrics[v] = json.loads(pre.read_text())["metrics"]
    if not metrics:
        print("no reference models found", file=sys.stderr)
        return 1
    table = [
        "| model | spread + (px) | spread − (px) | hull fraction + | hull fraction − | regions + / − | "
        "median std + (px) | median std − (px) | instability | mean Δf eyes | mean Δf nose | rel. Δf (eyes, nose, mouth) | dims₅₀ (eyes, nose, mouth) |",
        "|---|" + "---|" * 12,
    ]
    for v, m in metrics.items():
        rel = mean_over_regions(m, "relative_feature_difference")
        dims = m.get("feature_difference_dims_50") or {}
        mfd = m.get("mean_feature_difference") or {}
        boot = m.get("bootstrap") or {}

        def mfd_s(r, mfd=mfd, boot=boot):
            if r not in mfd:
                return "–"
            sd = (boot.get(f"mean_feature_difference/{r}") or {}).get("std")
            return f"{mfd[r]:.4f}" + (f" ± {sd:.4f}" if sd is not None else "")

        table.append(
            f"| {v} | {fmt(m, 'spread_pos')} | {fmt(m, 'spread_neg')} | {fmt(m, 'hull_fraction_pos', 3)} | "
            f"{fmt(m, 'hull_fraction_neg', 3)} | {m.get('regions_covered_pos')} / {m.get('regions_covered_neg')} | "
            f"{fmt(m, 'median_peak_std_pos')} | {fmt(m, 'median_peak_std_neg')} | {m.get('location_instability', float('nan')):.4f} | "
            f"{mfd_s('eyes')} | {mfd_s('nose')} | {'–' if rel is None else f'{rel:.3f}'} | "
            f"{', '.join(str(dims.get(r, '–')) for r in ('eyes', 'nose', 'mouth'))} |"
        )
    print("\n".join(table))
    if args.docs:
        from results_md import patch_results

        patch_results("reference_analyses.py", "\n".join(table))
    if "base" in metrics:
        b = metrics["base"]
        print("\nClaims (vs base; a difference counts when it exceeds 2 bootstrap stds of both models where known):")
        for v in ("sad", "full"):
            if v not in metrics:
                continue
            m = metrics[v]

            def cmp(key, larger, m=m):
                x, y = m.get(key), b.get(key)
                sx = ((m.get("bootstrap") or {}).get(key) or {}).get("std") or 0.0
                sy = ((b.get("bootstrap") or {}).get(key) or {}).get("std") or 0.0
                margin = 2 * max(sx, sy)
                ok = (x - y > margin) if larger else (y - x > margin)
                return f"{key} {x:.3f} vs {y:.3f}: {'yes' if ok else 'no'}"

            dims_v = mean_over_regions(m, "feature_difference_dims_50")
            dims_b = mean_over_regions(b, "feature_difference_dims_50")
            rel_v, rel_b = (
                mean_over_regions(m, "relative_feature_difference"),
                mean_over_regions(b, "relative_feature_difference"),
            )
            print(
                f"- {v}: spreads more: {cmp('spread_pos', True)}; {cmp('spread_neg', True)}; "
                f"{cmp('hull_fraction_pos', True)}. Smaller stds: {cmp('median_peak_std_pos', False)}; "
                f"{cmp('median_peak_std_neg', False)}. Occlusion changes fewer dims: dims50 {dims_v:.1f} vs {dims_b:.1f}: "
                f"{'yes' if dims_v < dims_b else 'no'}; by less: relative Δf {rel_v:.3f} vs {rel_b:.3f}: "
                f"{'yes' if rel_v < rel_b else 'no'}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
