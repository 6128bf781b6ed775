#!/usr/bin/env python
"""Time `interpface evaluate --protocol lfw-devtest` end to end: embedding all 3,708 DevTest images
and scoring (View 1 accuracy, all 6.9 M pairs' ROC with the bootstrap, 10 identification trials).

    .venv/bin/python benchmarks/evaluation_speed.py [--checkpoint DIR] [--condition clean] [--json OUT]

Without --checkpoint an untrained cpu-config model is timed (weights do not change the cost).
Needs the prepared LFW cache (`interpface data prepare --dataset lfw`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="checkpoint directory (default: untrained cpu-config model)")
    p.add_argument("--config", default="cpu", help="model config when no checkpoint (default cpu)")
    p.add_argument("--condition", default="clean")
    p.add_argument("--bootstrap", type=int, default=50)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--json", help="write the timings as JSON")
    args = p.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from interpface.evaluation.embedding import inference_dtype
    from interpface.evaluation.protocols import Evaluator, format_table

    if args.checkpoint:
        from interpface.models.registry import resolve_model

        model = resolve_model(args.checkpoint)
        name = args.checkpoint
    else:
        from interpface.models.networks import InterpretableFaceNet, get_model_config

        torch.manual_seed(0)
        from interpface.models.adapters import InterpretableFaceModel

        model = InterpretableFaceModel(InterpretableFaceNet(get_model_config(args.config)).eval())
        name = f"untrained {args.config}-config model"
    t0 = time.perf_counter()
    ev = Evaluator(model, "lfw-devtest", n_bootstrap=args.bootstrap)
    result = ev.run(args.condition)
    total = time.perf_counter() - t0
    embed_s = sum(v for k, v in ev.timings.items() if k.startswith("embed_") and k.endswith("_s"))
    n_images = sum(v for k, v in ev.timings.items() if k.endswith("_images"))
    report = {
        "model": name,
        "condition": args.condition,
        "images": len(ev.faces.keys),
        "embedded": n_images,
        "pairs": result["n_pairs"],
        "total_s": round(total, 1),
        "embed_s": round(embed_s, 1),
        "images_per_s": round(n_images / max(embed_s, 1e-9), 1),
        "score_s": round(ev.timings[f"score_{args.condition}_s"], 1),
        "setup_s": round(ev.timings["setup_s"], 1),
        "bootstrap": args.bootstrap,
        "threads": torch.get_num_threads(),
        "dtype": str(inference_dtype()),
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
    }
    print(format_table([result]))
    print(
        f"{name}: {report['images']} DevTest images, {report['pairs']:,} pairs, {args.condition}: "
        f"total {report['total_s']} s (embedding {report['embed_s']} s = {report['images_per_s']} img/s, "
        f"scoring {report['score_s']} s), {report['threads']} thread(s), {report['dtype']}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
