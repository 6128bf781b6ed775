#!/usr/bin/env python
"""Images per second of `data prepare` and `embed`, local against `--ray` on this machine, in one run.

    .venv/bin/python benchmarks/ray_scaling.py [--images 300] [--workers 2] [--checkpoint DIR] [--json OUT]

On the first --images LFW images (sorted order; $INTERPFACE_DATA or ../shared/data), each in a fresh
cache folder:

- prepare, per core: the local pool with 1 worker (detection + 68 landmarks + alignment);
- prepare: the local pool with --workers processes, then a local Ray with --workers CPUs
  (`prepare_dataset(ray=...)`: Ray Data, one detector per actor);
- embed: `embed_images` in this process (torch on --workers threads), then `embed_images_ray`
  on --workers actors (one model each, 1 thread each): detection + alignment + embedding of paths;
- embed, per core: the model alone on the aligned crops (1 torch thread), the number docs/scaling.md
  uses for the embedding share of a large run.

Ray's start-up (ray.init) is timed apart and left out of the Ray rates; each Ray Data run's own
actor start-up (import, model load) is in them, as a user sees it. Prints the rates and the ratio
Ray / local; with --json also writes them. Without --checkpoint the shipped `full` model is used.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=300, help="how many LFW images (default 300)")
    p.add_argument("--workers", type=int, default=2, help="local processes / Ray CPUs (default 2)")
    p.add_argument("--checkpoint", help="model URI (default: the shipped `full` model)")
    p.add_argument("--json", help="write the numbers as JSON")
    args = p.parse_args()

    import numpy as np

    from interpface.faces.datasets import load_lfw
    from interpface.faces.distributed import import_ray
    from interpface.faces.prepare import PreparedDataset, prepare_dataset

    uri = args.checkpoint or str(Path(__file__).resolve().parent.parent / "assets" / "models" / "full")
    dataset = load_lfw()
    n, w = args.images, args.workers
    paths = [str(dataset.path(r.relpath)) for r in dataset.records[:n]]
    out: dict = {
        "images": n,
        "workers": w,
        "model": uri,
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }
    tmp = Path(tempfile.mkdtemp(prefix="ray-scaling-"))

    def rate(seconds: float) -> float:
        return round(n / seconds, 2)

    # -- data prepare
    # The forked pool first: a fork after threads ran here (OpenCV's, torch's) can deadlock a child.
    t = time.perf_counter()
    prepare_dataset(dataset, cache_dir=tmp / "pw", workers=w, limit=n, progress=False)
    out["prepare_local_img_s"] = rate(time.perf_counter() - t)
    t = time.perf_counter()
    one = prepare_dataset(dataset, cache_dir=tmp / "p1", workers=1, limit=n, progress=False)
    out["prepare_local_1_core_img_s"] = rate(time.perf_counter() - t)

    ray = import_ray()
    t = time.perf_counter()
    ray.init(address="local", num_cpus=w, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    out["ray_init_s"] = round(time.perf_counter() - t, 2)
    try:
        t = time.perf_counter()
        rep = prepare_dataset(dataset, cache_dir=tmp / "pr", workers=w, limit=n, progress=False, ray="auto")
        out["prepare_ray_img_s"] = rate(time.perf_counter() - t)
        a, b = PreparedDataset(one.cache_dir), PreparedDataset(rep.cache_dir)
        out["prepare_same_cache"] = bool(a.index == b.index and np.array_equal(a.crops, b.crops))

        # -- embed (paths in: detection + alignment + embedding)
        import torch

        from interpface.evaluation.distributed import embed_images_ray
        from interpface.evaluation.embedding import embed_images
        from interpface.faces.pipeline import FacePipeline
        from interpface.models.registry import resolve_model

        t = time.perf_counter()
        emb_r, fail_r = embed_images_ray(uri, paths, workers=w)
        out["embed_ray_img_s"] = rate(time.perf_counter() - t)
    finally:
        ray.shutdown()
    torch.set_num_threads(w)
    model = resolve_model(uri)
    t = time.perf_counter()
    emb, fail = embed_images(model, paths, FacePipeline())
    out["embed_local_img_s"] = rate(time.perf_counter() - t)
    ok = ~np.isnan(emb).any(axis=1)
    out["embed_same_rows"] = bool(np.array_equal(ok, ~np.isnan(emb_r).any(axis=1)) and fail == fail_r)
    out["embed_max_abs_diff"] = float(np.abs(emb[ok] - emb_r[ok]).max())

    # -- per core: the model alone on aligned crops
    torch.set_num_threads(1)
    usable = a.usable()
    crops, lms = np.asarray(a.crops[usable]), a.landmarks[usable]
    model.embed(crops[:8], lms[:8])  # warm-up
    t = time.perf_counter()
    model.embed(crops, lms, batch_size=64)
    out["embed_crops_1_core_img_s"] = round(len(crops) / (time.perf_counter() - t), 2)

    out["ratio_prepare_ray_over_local"] = round(out["prepare_ray_img_s"] / out["prepare_local_img_s"], 3)
    out["ratio_embed_ray_over_local"] = round(out["embed_ray_img_s"] / out["embed_local_img_s"], 3)
    print(f"{n} LFW images, {w} workers, {os.cpu_count()} cores on this machine ({out['machine']})")
    print(f"Ray start-up (ray.init, local, {w} CPUs): {out['ray_init_s']} s")
    print(
        f"data prepare: local 1 core {out['prepare_local_1_core_img_s']} img/s; "
        f"local {w} processes {out['prepare_local_img_s']} img/s; Ray {w} actors {out['prepare_ray_img_s']} img/s "
        f"(ratio Ray / local {out['ratio_prepare_ray_over_local']}); same cache: {out['prepare_same_cache']}"
    )
    print(
        f"embed (detect + align + embed): local {out['embed_local_img_s']} img/s; Ray {w} actors "
        f"{out['embed_ray_img_s']} img/s (ratio {out['ratio_embed_ray_over_local']}); same rows: "
        f"{out['embed_same_rows']}, max |diff| {out['embed_max_abs_diff']:.2e}"
    )
    print(f"embedding alone on aligned crops, 1 core: {out['embed_crops_1_core_img_s']} img/s")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
