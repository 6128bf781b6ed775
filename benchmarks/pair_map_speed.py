#!/usr/bin/env python
"""Time per pair map of every method on one model, in one run (targets: the representation map
<= 50 ms per pair, the occlusion-sweep map <= 1 s, FGGB <= 1 s; captum IntegratedGradients, the usual
choice, is timed alongside, and FGGB in float32 beside its default bf16 where the CPU has it; --methods
picks some).

    .venv/bin/python benchmarks/pair_map_speed.py [--checkpoint assets/models/full] [--pairs 5] [--threads 1]
                                                [--repeats 3] [--json OUT]

Pairs: seeded LFW DevTest genuine pairs when a dataset is configured, else the bundled sample faces.
Each figure: the median over pairs of the best of --repeats runs, face A's embedding included.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=str(Path(__file__).resolve().parent.parent / "assets" / "models" / "full"))
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--rise-masks", type=int, default=512)
    p.add_argument("--methods", help="comma-separated (default: every method that applies, FGGB, xSSAB, CorrRISE too)")
    p.add_argument("--json")
    args = p.parse_args()

    import torch

    from interpface.analysis.pair_maps import methods_for, pair_map
    from interpface.errors import DatasetError
    from interpface.models.registry import resolve_model

    torch.set_num_threads(args.threads)
    model = resolve_model(args.checkpoint)
    try:
        from interpface.analysis.pair_benchmark import load_devtest_pairs, model_input_pairs

        pairs = model_input_pairs(model, load_devtest_pairs(args.pairs))  # each model's own input
        faces = [(pairs.crops_a[i], pairs.crops_b[i]) for i in range(args.pairs)]  # the genuine ones
        source = f"{args.pairs} LFW DevTest genuine pairs"
    except DatasetError:
        from interpface.faces.pipeline import FacePipeline
        from interpface.faces.samples import sample_faces

        prepared = [FacePipeline().prepare(rgb) for rgb in sample_faces().values()]
        x01, _ = model.chips(np.stack([p.crop for p in prepared]), np.stack([p.landmarks for p in prepared]))
        chips = (x01 * 255).permute(0, 2, 3, 1).numpy().round().astype(np.uint8)
        faces = [(chips[0], chips[1])]
        source = "the two bundled sample faces"
    times = {}
    methods = args.methods.split(",") if args.methods else methods_for(model, verification=True)
    # FGGB runs in bf16 where the CPU has it ("auto"); its float32 run is timed beside it as the peer
    runs = [(m, m, {}) for m in methods] + (
        [("fggb (fp32)", "fggb", {"precision": "fp32"})] if "fggb" in methods else []
    )
    for label, method, extra in runs:
        per_pair = []
        for a, b in faces:
            best = min(
                pair_map(model, a, b, method, n_masks=args.rise_masks, **extra).seconds for _ in range(args.repeats)
            )
            per_pair.append(best)
        times[label] = float(np.median(per_pair))
    print(
        f"{Path(args.checkpoint).name}, {source}, {args.threads} thread(s), best of {args.repeats}, median over pairs:"
    )
    ig = times.get("integrated_gradients")
    for method, t in times.items():
        ratio = f"  ({ig / t:.1f}x faster than IG)" if ig and method != "integrated_gradients" and t < ig else ""
        if method == "fggb" and "fggb (fp32)" in times:
            ratio += f"  ({times['fggb (fp32)'] / t:.2f}x faster than in fp32)"
        print(f"  {method:<22} {1000 * t:8.1f} ms{ratio}")
    if args.json:
        Path(args.json).write_text(json.dumps({"source": source, "threads": args.threads, "seconds": times}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
