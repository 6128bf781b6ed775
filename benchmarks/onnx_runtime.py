"""Throughput of an ONNX face model three ways, on the same batches: the converted module
(interpface.models.onnx_graph) in fp32 and under bf16 autocast, and onnxruntime (CPU, all graph
optimisations), with the ratios; the original PyTorch network in fp32 as a reference for the
converter's own overhead. On a CPU without native bf16 (no AVX512-BF16 / AMX) bf16 convolutions are
emulated and an order of magnitude slower than fp32.

The model is an arcface_torch IResNet (random init, BN statistics drawn so they matter) exported at
112 px with a dynamic batch by the legacy TorchScript exporter, then loaded through
load_onnx_face_model (so the conversion is checked against onnxruntime first).

    python benchmarks/onnx_runtime.py [--depth 18] [--batch 16] [--batches 2] [--rounds 2] [--threads N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def images_per_second(runs: dict, batches: list[torch.Tensor], rounds: int) -> dict[str, float]:
    """{name: images/s} of each run over all batches: one warm-up batch each, then `rounds` passes
    taken in turn (the machine may be shared: load changes hit every run alike), the best pass."""
    for run in runs.values():
        run(batches[0])
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            for x in batches:
                run(x)
            best[name] = min(best[name], time.perf_counter() - start)
    images = sum(len(x) for x in batches)
    return {name: images / seconds for name, seconds in best.items()}


def main() -> None:
    from interpface.models.adapters import IResNet
    from interpface.models.onnx_model import load_onnx_face_model, onnxruntime_session, read_onnx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=18, choices=(18, 34, 50, 100))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="timed passes of each run, taken in turn")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="intra-op threads for both torch and onnxruntime")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    net = IResNet(args.depth).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"iresnet{args.depth}.onnx"
        torch.onnx.export(net, torch.rand(1, 3, 112, 112), str(path), dynamo=False, input_names=["x"],
                          output_names=["embedding"], dynamic_axes={"x": {0: "n"}})
        start = time.perf_counter()
        model = load_onnx_face_model(path)
        load_s = time.perf_counter() - start
        session = onnxruntime_session(read_onnx(path), optimize=True, threads=args.threads)

    generator = torch.Generator().manual_seed(1)
    batches = [torch.rand(args.batch, 3, 112, 112, generator=generator) * 2 - 1 for _ in range(args.batches)]
    module = model.module

    def fp32(x):
        with torch.inference_mode():
            return module(x)

    def bf16(x):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            return module(x)

    def onnxruntime(x):
        return session.run(None, {"x": x.numpy()})[0]

    def original(x):
        with torch.inference_mode():
            return net(x)

    x = batches[0]
    ref = onnxruntime(x)
    diff = float(np.abs(fp32(x).numpy() - ref).max())
    cos = torch.nn.functional.cosine_similarity(bf16(x).float(), fp32(x), dim=1).min().item()
    rates = images_per_second({"converted fp32": fp32, "converted bf16 autocast": bf16,
                               "onnxruntime fp32": onnxruntime, "PyTorch original fp32": original},
                              batches, args.rounds)

    print(f"IResNet-{args.depth}, 112 px, {args.batches} batches of {args.batch}, best of {args.rounds} rounds, "
          f"{args.threads} thread(s); load + check {load_s:.1f} s")
    print(f"converted fp32 vs onnxruntime: max abs diff {diff:.2e}; bf16 vs fp32: min cosine {cos:.5f}")
    base = rates["onnxruntime fp32"]
    for name, rate in rates.items():
        print(f"{name:>24}: {rate:8.1f} images/s  ({rate / base:.2f}x onnxruntime)")


if __name__ == "__main__":
    main()
