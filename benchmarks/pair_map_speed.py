#!/usr/bin/env python
"""Time per pair map of every method on one model, in one run (targets: the representation map
<= 50 ms per pair, the occlusion-sweep map <= 1 s, FGGB <= 1 s; captum IntegratedGradients, the usual
choice, is timed alongside, and FGGB in float32 and with every dimension beside its default (bf16 where
the CPU has it, the default skip_mass); --methods picks some). --floor (our part-filter networks) also
times, in the same run, what FGGB cannot do without: its taped trunk backward for all D rows, and those
rows' transposed convolutions alone, beside a bf16 matmul's rate on this core.

    .venv/bin/python benchmarks/pair_map_speed.py [--checkpoint assets/models/full] [--pairs 5] [--threads 1]
                                                [--repeats 3] [--floor] [--json OUT]

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
    p.add_argument("--floor", action="store_true", help="FGGB's trunk backward and its convolutions alone")
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
    # and beside it with every dimension backpropagated (skip_mass=0: the authors' sum, no skipped terms)
    runs = [(m, m, {}) for m in methods] + (
        [("fggb (fp32)", "fggb", {"precision": "fp32"}), ("fggb (every dim)", "fggb", {"skip_mass": 0.0})]
        if "fggb" in methods
        else []
    )
    from interpface.analysis import verification_maps

    pick, kept = verification_maps.fggb_dims, []  # the dimensions the default FGGB runs kept, as they ran

    def spy(weights, skip_mass):
        rows = pick(weights, skip_mass)
        kept.append((len(rows), len(weights), skip_mass))
        return rows

    for label, method, extra in runs:
        per_pair = []
        verification_maps.fggb_dims = spy if label == "fggb" else pick
        for a, b in faces:
            best = min(
                pair_map(model, a, b, method, n_masks=args.rise_masks, **extra).seconds for _ in range(args.repeats)
            )
            per_pair.append(best)
        times[label] = float(np.median(per_pair))
    verification_maps.fggb_dims = pick
    print(
        f"{Path(args.checkpoint).name}, {source}, {args.threads} thread(s), best of {args.repeats}, median over pairs:"
    )
    ig = times.get("integrated_gradients")
    for method, t in times.items():
        ratio = f"  ({ig / t:.1f}x faster than IG)" if ig and method != "integrated_gradients" and t < ig else ""
        if method == "fggb" and "fggb (fp32)" in times:
            ratio += f"  ({times['fggb (fp32)'] / t:.2f}x faster than in fp32)"
            ratio += f"  ({times['fggb (every dim)'] / t:.2f}x faster than with every dimension)"
        print(f"  {method:<22} {1000 * t:8.1f} ms{ratio}")
    if kept:
        print(
            f"  FGGB backpropagated a median of {np.median([k for k, _, _ in kept]):.0f} of {kept[0][1]} "
            f"dimensions (skip_mass {kept[0][2]})"
        )
    floor = fggb_floor(model, faces[0][1], args.repeats) if args.floor else None
    if floor:
        print(
            f"  FGGB's floor, one face, {floor['rows']} rows in chunks of {floor['chunk']}: taped trunk backward "
            f"{floor['trunk_s']:.3f} s, its transposed convolutions alone {floor['convolutions_s']:.3f} s "
            f"({floor['convolution_gmac']:.1f} G multiply-adds, {floor['convolution_gmac_s']:.0f} G/s); "
            f"a 2048^3 bf16 matmul: {floor['matmul_gmac_s']:.0f} G/s"
        )
    if args.json:
        out = {"source": source, "threads": args.threads, "seconds": times, "fggb_floor": floor}
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


def fggb_floor(model, face, repeats: int, chunk: int = 16) -> dict | None:
    """The part of an FGGB map no overhead trimming can remove, on our network in bf16: the taped trunk
    backward (_TrunkVJP.from_parts) for all D rows, and its transposed convolutions alone (random
    cotangents), each the best of `repeats`; None where FGGB's taped path does not apply."""
    import time

    import torch
    import torch.nn.functional as F

    from interpface.analysis import verification_maps as vm

    net = vm._part_filter_net(model.input_net())
    if net is None or not vm._TrunkVJP.supports(net):
        return None
    x = torch.from_numpy(np.ascontiguousarray(face)).permute(2, 0, 1)[None].float() / 255.0  # the model's own chip
    trunk = vm._TrunkVJP(net, x, torch.bfloat16)
    rows = net.psi.weight.shape[0]
    chunks = -(-rows // chunk)
    cl = torch.channels_last
    u = torch.randn(chunk, sum(trunk.splits), *trunk.phi.shape[-2:]).contiguous(memory_format=cl)
    tapes = [*trunk.low, *trunk.mid, *trunk.high]
    grads = [torch.randn(chunk, *d.shape[1:]).to(torch.bfloat16).contiguous(memory_format=cl) for *_, d in tapes]
    macs = sum(chunk * d[0].numel() * w.shape[1] * w.shape[2] * w.shape[3] for w, *_, d in tapes) * chunks

    def best(fn) -> float:
        fn()
        seconds = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - t0)
        return min(seconds)

    def backward():
        for _ in range(chunks):
            trunk.from_parts(u.clone(memory_format=cl))

    def convolutions():
        for _ in range(chunks):
            for (w, stride, padding, out_pad, _), g in zip(tapes, grads):
                F.conv_transpose2d(g, w, stride=stride, padding=padding, output_padding=out_pad)

    a, b = torch.randn(2048, 2048).bfloat16(), torch.randn(2048, 2048).bfloat16()
    matmul = best(lambda: a @ b)
    conv_s = best(convolutions)
    return {
        "rows": rows,
        "chunk": chunk,
        "trunk_s": best(backward),
        "convolutions_s": conv_s,
        "convolution_gmac": macs / 1e9,
        "convolution_gmac_s": macs / conv_s / 1e9,
        "matmul_gmac_s": 2048**3 / matmul / 1e9,
    }


if __name__ == "__main__":
    sys.exit(main())
