#!/usr/bin/env python
"""Speed of the analyses (issue: "Interpretability analyses and report figures", Speed section).

(a) The N-image analysis of one model (peaks of psi', template warp, per-filter stats, spreads, Zhang
    instability, bootstrap) against its forward passes alone (crops -> tensors -> model(x), same
    batches); target: ratio <= 1.3. The feature differences need one more forward per image and
    occluder; they are timed on their own against that many plain forward passes.
(b) Occlusion sensitivity of one face, axis-aligned, against captum.attr.Occlusion with the same
    window, stride and baseline (default perturbations_per_eval=1, and batched), for one embedding
    dimension and for a pair's cosine similarity; target: >= 3x faster. Both timed in the same run.

Each timing is the best of --repeats runs (another job sharing the CPU only ever adds time).

    .venv/bin/python benchmarks/analysis_speed.py [--checkpoint DIR] [--images 1000] [--threads 1]
                                                   [--parts analysis,occlusion] [--profile] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent


def default_checkpoint() -> Path:
    for cand in ("assets/models/base", "runs/base"):
        p = ROOT / cand
        if (p / "model.safetensors").is_file():
            return p
        latest = p / "latest.json"
        if latest.is_file():
            return p / json.loads(latest.read_text())["dir"]
    sys.exit("no checkpoint found: pass --checkpoint DIR")


def best(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), times, out


def profile_sweep(run, rows: int = 6) -> dict:
    """Where one cosine sweep spends its time, in ms: wall time by stage of the incremental forward
    (wrapped methods, so numpy work outside torch ops counts too), then the costliest torch ops by
    name and shapes. Printed too."""
    from torch.profiler import ProfilerActivity, profile

    from interpface.analysis.incremental import OcclusionForward as Fwd

    stages: dict[str, float] = {}

    def timed(label, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                key = label(a)
                stages[key] = stages.get(key, 0.0) + (time.perf_counter() - t) * 1000

        return wrapper

    wrapped = {
        "_local_deltas": lambda a: f"Psi: {a[1]}'s share, changed rectangles",
        "_embedding": lambda a: "LMF + mean (f)",
        "_finish": lambda a: "after the incremental part",
        "__call__": lambda a: "occluded batches",
        "clean": lambda a: "clean f (from the kept clean maps)",
    }
    saved = {name: getattr(Fwd, name) for name in wrapped}
    try:
        for name, label in wrapped.items():
            setattr(Fwd, name, timed(label, saved[name]))
        t0 = time.perf_counter()
        run()
        total = (time.perf_counter() - t0) * 1000
    finally:
        for name, fn in saved.items():
            setattr(Fwd, name, fn)
    local = sum(v for k, v in stages.items() if k.startswith("Psi"))
    clean = stages["clean f (from the kept clean maps)"]
    after = stages.pop("after the incremental part", 0.0) - clean  # the occluded batches' share
    batches = stages.pop("occluded batches", 0.0)
    stages["incremental backbone (before conv43)"] = batches - after
    stages["conv43..conv53, conv54's share of Psi (full maps), sums"] = after - local - stages["LMF + mean (f)"]
    stages["setup (clean feature maps), masks, cosine"] = total - batches - clean
    out = {"sweep_ms": round(total, 1), "stages_ms": {k: round(v, 1) for k, v in stages.items()}}
    print(f"    one cosine sweep: {total:.0f} ms; by stage:")
    for k, v in sorted(stages.items(), key=lambda kv: -kv[1]):
        print(f"      {v:7.1f} ms  {k}")
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        run()
    events = sorted(prof.key_averages(group_by_input_shape=True), key=lambda e: -e.self_cpu_time_total)
    ops = sum(e.self_cpu_time_total for e in events) / 1000
    out["torch_ops_ms"] = round(ops, 1)
    print(f"    torch ops: {ops:.0f} ms; costliest:")
    for e in events[:rows]:
        label = f"{e.key} {e.input_shapes[:2]}"
        out[label] = round(e.self_cpu_time_total / 1000, 1)
        print(f"      {out[label]:7.1f} ms  {label}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=None)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--regions", default="eyes,nose", help="occluders for the feature-difference timing")
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--stride", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--parts", default="analysis,occlusion", help="which of (a) analysis, (b) occlusion to run")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="(b): where the cosine-target sweep spends its time (by stage, and torch ops by shape)",
    )
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    torch.set_num_threads(args.threads)

    from captum.attr import Occlusion

    from interpface.analysis import EmbeddingTarget, load_devtest_faces, occlusion_sweep, run_analysis, to_input
    from interpface.analysis.feature_difference import feature_differences, region_rects
    from interpface.models.registry import resolve_model

    ckpt = args.checkpoint or default_checkpoint()
    face_model = resolve_model(ckpt)
    model, info = face_model.part_filters, face_model.info
    faces = load_devtest_faces(args.images if "analysis" in parts else 2)
    crops, lms = faces.crops, faces.landmarks
    n, bs = len(crops), args.batch_size
    report: dict = {
        "checkpoint": str(ckpt),
        "model_config": info.get("model"),
        "images": n if "analysis" in parts else None,
        "threads": args.threads,
        "torch": torch.__version__,
    }

    # ---- (a) analysis vs forward passes alone ----------------------------------------------------
    if "analysis" in parts:

        def forward_only():
            with torch.inference_mode():
                for s in range(0, n, bs):
                    model(to_input(crops[s : s + bs]))

        def analysis():
            return run_analysis(face_model, crops, lms, regions=None, bootstrap=100, batch_size=bs)

        forward_only()  # warm-up
        fwd_all, ana_all = [], []
        for _ in range(args.repeats):  # interleaved, so a busy spell of the other job hits both alike
            fwd_all.append(best(forward_only, 1)[0])
            t, _, result = best(analysis, 1)
            ana_all.append(t)
        t_fwd, t_ana = min(fwd_all), min(ana_all)
        report["analysis"] = {
            "forward_s": round(t_fwd, 3),
            "analysis_s": round(t_ana, 3),
            "ratio": round(t_ana / t_fwd, 3),
            "target": 1.3,
            "forward_runs_s": [round(t, 3) for t in fwd_all],
            "analysis_runs_s": [round(t, 3) for t in ana_all],
            "breakdown_s": {k: round(v, 3) for k, v in result.meta["timings"].items()},
        }
        print(
            f"(a) {n} images: forward passes alone {t_fwd:.2f} s, analysis {t_ana:.2f} s -> ratio {t_ana / t_fwd:.3f} "
            f"(target <= 1.3); breakdown {report['analysis']['breakdown_s']}"
        )

        regions = [r for r in args.regions.split(",") if r]
        if regions:
            occ = region_rects(regions)
            t_fd, _, _ = best(lambda: feature_differences(model, crops, lms, occ, f_clean=result.f, batch_size=bs), 1)
            report["feature_differences"] = {
                "regions": regions,
                "seconds": round(t_fd, 3),
                "forward_equivalent_s": round(len(regions) * t_fwd, 3),
                "ratio": round(t_fd / (len(regions) * t_fwd), 3),
            }
            print(
                f"    feature differences, {len(regions)} occluders: {t_fd:.2f} s = "
                f"{t_fd / (len(regions) * t_fwd):.2f} x their {len(regions)} forward passes"
            )

    # ---- (b) occlusion sweep vs captum.attr.Occlusion --------------------------------------------
    if "occlusion" in parts:
        crop, other = crops[0], crops[1]
        x = to_input(crop)
        ref = model(to_input(other))[0].detach()
        w, s, dim = args.window, args.stride, 7
        occ_kw = dict(sliding_window_shapes=(3, w, w), strides=(3, s, s), baselines=0.0)
        cases = {}

        def run_case(label, ours_fn, ours_attr, captum_fn, captum_batched_fn):
            ours_fn()  # warm-up
            t_ours, _, sweep = best(ours_fn, args.repeats)
            t_cap, _, attr = best(captum_fn, args.repeats)
            t_capb, _, attr_b = best(captum_batched_fn, 1)
            err = float(np.abs(ours_attr(sweep) - attr[0, 0].numpy()).max())
            err_captum = float(np.abs(attr_b[0, 0].numpy() - attr[0, 0].numpy()).max())
            cases[label] = {
                "ours_s": round(t_ours, 3),
                "captum_s": round(t_cap, 3),
                "speedup": round(t_cap / t_ours, 2),
                "captum_batched_s": round(t_capb, 3),
                "speedup_vs_batched": round(t_capb / t_ours, 2),
                "max_abs_difference": err,
                "captum_batched_vs_unbatched_max_abs_difference": err_captum,
                "max_abs_attribution": float(np.abs(attr[0, 0].numpy()).max()),
                "windows": int(sweep.n),
            }
            print(
                f"(b) {label}: ours {t_ours:.2f} s, captum {t_cap:.2f} s -> {t_cap / t_ours:.1f}x "
                f"(captum perturbations_per_eval={bs}: {t_capb:.2f} s -> {t_capb / t_ours:.1f}x); {sweep.n} windows; "
                f"max |ours - captum| {err:.1e} (captum batched vs unbatched: {err_captum:.1e}; "
                f"max |attribution| {cases[label]['max_abs_attribution']:.2f})"
            )

        run_case(
            f"dimension {dim}",
            lambda: occlusion_sweep(model, x, window=w, stride=s, dims=[dim], batch_size=32),
            lambda sw: sw.attribution(dim),
            lambda: Occlusion(model).attribute(x, target=dim, **occ_kw),
            lambda: Occlusion(model).attribute(x, target=dim, perturbations_per_eval=bs, **occ_kw),
        )
        target = EmbeddingTarget(model, reference=ref)
        run_case(
            "cosine similarity (all dimensions recorded)",
            lambda: occlusion_sweep(model, x, window=w, stride=s, reference=ref, batch_size=32),
            lambda sw: sw.attribution("cosine"),
            lambda: Occlusion(target).attribute(x, **occ_kw),
            lambda: Occlusion(target).attribute(x, perturbations_per_eval=bs, **occ_kw),
        )
        report["occlusion"] = {"window": w, "stride": s, "baseline": 0.0, "target_speedup": 3.0, "cases": cases}
        k = model.config.num_filters
        t_all = cases["cosine similarity (all dimensions recorded)"]["ours_s"]
        t_one = cases[f"dimension {dim}"]["captum_s"]
        report["occlusion"]["all_outputs"] = {
            "note": f"one sweep records all {k} dimensions and the cosine; captum needs one run per target",
            "ours_s": t_all,
            "captum_estimate_s": round(t_one * (k + 1), 1),
            "speedup": round(t_one * (k + 1) / t_all, 1),
        }
        print(f"    every dimension + cosine in one sweep: {t_all:.2f} s vs ~{t_one * (k + 1):.0f} s of captum runs")
        if args.profile:
            report["occlusion"]["cosine_profile_ms"] = profile_sweep(
                lambda: occlusion_sweep(model, x, window=w, stride=s, reference=ref, batch_size=32)
            )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
