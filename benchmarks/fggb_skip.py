#!/usr/bin/env python
"""What FGGB's skip_mass costs and saves: per skip mass, the dimensions backpropagated, the time per map
and the map's agreement with the full sum over every dimension (skip_mass 0, same precision): Spearman
rank correlation over B's pixels and relative L2 difference, on genuine and impostor pairs.

    .venv/bin/python benchmarks/fggb_skip.py [--checkpoint assets/models/full] [--pairs 10]
                                             [--skip-mass 0.01,0.02,0.05] [--threads 1] [--json OUT]

Pairs: --pairs genuine and --pairs impostor seeded LFW DevTest pairs where a dataset is configured,
else the bundled sample faces (each pair of them). Time: one map each, so a spread, not a best-of;
pair_map_speed.py gives the budget figure.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=str(Path(__file__).resolve().parent.parent / "assets" / "models" / "full"))
    p.add_argument("--pairs", type=int, default=10)
    p.add_argument("--skip-mass", default="0.01,0.02,0.05")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json")
    args = p.parse_args()

    import torch
    from scipy.stats import spearmanr

    from interpface.analysis import verification_maps
    from interpface.errors import DatasetError
    from interpface.models.registry import resolve_model

    torch.set_num_threads(args.threads)
    model = resolve_model(args.checkpoint)
    net = model.input_net()
    try:
        from interpface.analysis.pair_benchmark import load_devtest_pairs, model_input_pairs

        pairs = model_input_pairs(model, load_devtest_pairs(args.pairs))
        faces = [(pairs.crops_a[i], pairs.crops_b[i], bool(pairs.same[i])) for i in range(len(pairs.same))]
        source = f"{args.pairs} genuine + {args.pairs} impostor LFW DevTest pairs"
    except DatasetError:
        from interpface.faces.pipeline import FacePipeline
        from interpface.faces.samples import sample_faces

        prepared = [FacePipeline().prepare(rgb) for rgb in sample_faces().values()]
        x01, _ = model.chips(np.stack([p.crop for p in prepared]), np.stack([p.landmarks for p in prepared]))
        chips = (x01 * 255).permute(0, 2, 3, 1).numpy().round().astype(np.uint8)
        faces = [(chips[i], chips[j], False) for i, j in itertools.combinations(range(len(chips)), 2)]
        source = f"the {len(chips)} bundled sample faces, pairwise"
    masses = sorted({0.0, *(float(m) for m in args.skip_mass.split(","))})
    pick, picked = verification_maps.fggb_dims, []

    def spy(weights, skip_mass):  # the dimensions each map kept, as it ran (bf16 f_hat on the generic path)
        picked.append(pick(weights, skip_mass))
        return picked[-1]

    def as_input(chip):  # (S, S, 3) uint8 -> (3, S, S) in [0, 1]
        return torch.from_numpy(np.ascontiguousarray(chip)).permute(2, 0, 1).float() / 255.0

    verification_maps.fggb_dims = spy
    xa, xb = as_input(faces[0][0]), as_input(faces[0][1])
    verification_maps.fggb_map(net, xb, net(xa[None])[0].detach())  # warm-up, outside the timings
    rows = {m: {"kept": [], "seconds": [], "spearman": [], "rel_l2": [], "same": []} for m in masses}
    for a, b, same in faces:
        xa, xb = as_input(a), as_input(b)
        with torch.no_grad():
            f_a = net(xa[None])[0].float()
        full = None
        for m in masses:
            t0 = time.perf_counter()
            signed = verification_maps.fggb_map(net, xb, f_a, skip_mass=m)
            seconds = time.perf_counter() - t0
            full = signed if m == 0.0 else full
            r = rows[m]
            r["kept"].append(len(picked[-1]))
            r["seconds"].append(seconds)
            r["spearman"].append(float(spearmanr(signed.ravel(), full.ravel()).statistic))
            r["rel_l2"].append(float(np.linalg.norm(signed - full) / np.linalg.norm(full)))
            r["same"].append(same)
    dim = int(f_a.shape[0])
    print(f"{Path(args.checkpoint).name} ({dim}-d), {source}, {args.threads} thread(s), FGGB at its default precision:")
    print(
        f"  {'skip_mass':>9}  {'kind':<8} {'dims kept':>15}  {'s per map':>15}  {'Spearman min':>12}  {'rel L2 max':>10}"
    )
    for m, r in rows.items():
        same = np.array(r["same"])
        for kind, sel in (("genuine", same), ("impostor", ~same)):
            if not sel.any():
                continue
            kept, sec = np.array(r["kept"])[sel], np.array(r["seconds"])[sel]
            rho, rel = np.array(r["spearman"])[sel], np.array(r["rel_l2"])[sel]
            print(
                f"  {m:>9.2f}  {kind:<8} {np.median(kept):>6.0f} ({kept.min():>3}-{kept.max():>3})"
                f"  {np.median(sec):>6.3f} ({sec.min():.2f}-{sec.max():.2f})  {rho.min():>12.5f}  {rel.max():>10.4f}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps({"source": source, "dim": dim, "by_skip_mass": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
