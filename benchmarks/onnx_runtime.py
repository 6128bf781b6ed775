"""Throughput of an ONNX face model three ways, on the same batches: the converted module
(interpface.models.onnx_graph) in fp32 and under bf16 autocast, and onnxruntime (CPU, all graph
optimisations), with the ratios; the original PyTorch network in fp32 as a reference for the
converter's own overhead. On a CPU without native bf16 (no AVX512-BF16 / AMX) bf16 convolutions are
emulated and an order of magnitude slower than fp32.

The model is an arcface_torch IResNet (random init, BN statistics drawn so they matter) exported at
112 px, or (--model dlib-port) the PyTorch port of dlib's ResNet with its real weights at 150 px,
exported with a dynamic batch by the legacy TorchScript exporter; --int8 quantises it with
onnxruntime's static QDQ quantisation (per channel). It is then loaded through load_onnx_face_model,
so the conversion is checked against onnxruntime first.

    python benchmarks/onnx_runtime.py [--model iresnet|dlib-port] [--depth 18] [--int8] [--batch 16]
                                      [--batches 2] [--rounds 2] [--threads N]
"""

from __future__ import annotations

import argparse
import json
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


def quantise(path: Path, size: int, low: float, high: float) -> Path:
    """Static int8 QDQ quantisation (per channel) with 8 random calibration inputs in [low, high]."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    class Calibration(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.batches = iter(
                [{"x": rng.uniform(low, high, (1, 3, size, size)).astype(np.float32)} for _ in range(8)]
            )

        def get_next(self):
            return next(self.batches, None)

    out = path.with_name(path.stem + "_int8.onnx")
    quantize_static(str(path), str(out), Calibration(), quant_format=QuantFormat.QDQ, per_channel=True)
    return out


def probe_update_ms(model, n: int) -> dict[str, float]:
    """Median / p90 milliseconds of OcclusionProbe.update (one occlusion + one forward of one face) at
    seeded random rectangles on the bundled astronaut, Grace Hopper as the second face."""
    from interpface.analysis.probe import OcclusionProbe
    from interpface.faces.occlusion import random_rect
    from interpface.faces.pipeline import FacePipeline
    from interpface.faces.samples import sample_face

    pipe = FacePipeline()
    face, other = pipe.prepare(sample_face("astronaut")), pipe.prepare(sample_face("grace_hopper"))
    start = time.perf_counter()
    probe = OcclusionProbe(model, face.crop, face.landmarks, other.crop, other_landmarks=other.landmarks)
    setup = time.perf_counter() - start
    rng = np.random.default_rng(0)
    times = []
    for i in range(n + 3):
        rect = random_rect(rng)
        start = time.perf_counter()
        probe.update(rect)
        if i >= 3:  # the first few warm the allocator up
            times.append(1000 * (time.perf_counter() - start))
    return {"median": float(np.median(times)), "p90": float(np.percentile(times, 90)), "setup": 1000 * setup}


def main() -> None:
    from interpface.models.adapters import IResNet
    from interpface.models.onnx_model import load_onnx_face_model, onnxruntime_session, read_onnx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="iresnet", choices=("iresnet", "dlib-port"))
    parser.add_argument("--depth", type=int, default=18, choices=(18, 34, 50, 100))
    parser.add_argument("--int8", action="store_true", help="quantise to int8 (QDQ, per channel) first")
    parser.add_argument(
        "--probe",
        type=int,
        default=0,
        metavar="N",
        help="also time N occlusion-probe updates (the dashboard's slider move) with this model "
        "and with the bundled `full`, on one thread",
    )
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="timed passes of each run, taken in turn")
    parser.add_argument(
        "--threads", type=int, default=torch.get_num_threads(), help="intra-op threads for both torch and onnxruntime"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    if args.model == "dlib-port":
        from interpface.models.dlib_port import load_dlib_port

        net, size, title, low, high = load_dlib_port().eval(), 150, "dlib ResNet port (real weights)", 0.0, 255.0
    else:
        net, size, title, low, high = IResNet(args.depth).eval(), 112, f"IResNet-{args.depth} (random init)", -1.0, 1.0
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
                    m.running_mean.uniform_(-0.1, 0.1)
                    m.running_var.uniform_(0.5, 1.5)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        torch.onnx.export(
            net,
            torch.rand(1, 3, size, size),
            str(path),
            dynamo=False,
            input_names=["x"],
            output_names=["embedding"],
            dynamic_axes={"x": {0: "n"}},
        )
        if args.int8:
            path = quantise(path, size, low, high)
            title += ", int8 QDQ"
        # the sidecar says what the model takes, so the load-time check feeds it the right range
        mean, std = ([0.0] * 3, [1.0 / 255] * 3) if args.model == "dlib-port" else ([0.5] * 3, [0.5] * 3)
        path.with_suffix(".json").write_text(json.dumps({"input_size": size, "mean": mean, "std": std}))
        start = time.perf_counter()
        model = load_onnx_face_model(path)
        load_s = time.perf_counter() - start
        session = onnxruntime_session(read_onnx(path), optimize=True, threads=args.threads)

    generator = torch.Generator().manual_seed(1)
    batches = [
        torch.rand(args.batch, 3, size, size, generator=generator) * (high - low) + low for _ in range(args.batches)
    ]
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
    rates = images_per_second(
        {
            "converted fp32": fp32,
            "converted bf16 autocast": bf16,
            "onnxruntime fp32": onnxruntime,
            "PyTorch original fp32": original,
        },
        batches,
        args.rounds,
    )

    print(
        f"{title}, {size} px, {args.batches} batches of {args.batch}, best of {args.rounds} rounds, "
        f"{args.threads} thread(s); load + check {load_s:.1f} s"
    )
    print(f"converted fp32 vs onnxruntime: max abs diff {diff:.2e}; bf16 vs fp32: min cosine {cos:.5f}")
    base = rates["onnxruntime fp32"]
    for name, rate in rates.items():
        print(f"{name:>24}: {rate:8.1f} images/s  ({rate / base:.2f}x onnxruntime)")
    if args.probe:
        from interpface.models.registry import resolve_model

        torch.set_num_threads(1)  # as in the dashboard: one intra-op thread per session
        for name, face_model in (("ONNX " + title, model), ("bundled full", resolve_model("assets/models/full"))):
            ms = probe_update_ms(face_model, args.probe)
            print(
                f"probe update, {name}: median {ms['median']:.1f} ms, p90 {ms['p90']:.1f} ms "
                f"(setup {ms['setup']:.0f} ms, {args.probe} updates, 1 thread)"
            )


if __name__ == "__main__":
    main()
