"""`interpface benchmark`: FLOPs per image, training images/s (fp32 default layout, fp32
channels_last, bf16 autocast + channels_last, and with --compile the same under torch.compile),
inference latency and throughput, and utilisation against a matmul peak measured in the same run.
Prints a table and writes JSON with --json."""

from __future__ import annotations

import statistics
import time

import torch

from interpface.models.networks import InterpretableFaceNet, count_flops, count_parameters, get_model_config

from .config import TrainConfig
from .objective import SiameseObjective
from .trainer import bf16_supported


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int = 2048, repeats: int = 10) -> float:
    """Best-of GFLOP/s of an n x n @ n x n matmul (2 n^3 FLOPs) in `dtype`."""
    if device.type == "cuda":
        n = 8192
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def train_speed(
    model_name: str,
    batch: int,
    steps: int,
    device,
    *,
    bf16: bool,
    channels_last: bool,
    siamese: bool = True,
    compile: bool = False,
) -> float:
    """Images/s of full training steps (forward, all losses, backward, Adam) on random data.
    With siamese=True a step is `batch` clean + `batch` occluded images (the `full` variant).
    compile: run the objective under torch.compile as the trainer's `compile: true` does (the first
    steps, which compile, are not timed)."""
    torch.manual_seed(0)
    num_classes = 4000
    net = InterpretableFaceNet(get_model_config(model_name, num_classes=num_classes)).to(device)
    cfg = TrainConfig(
        model=model_name,
        occlusion=siamese,
        w_sad_filter=1.0 if siamese else 0.0,
        w_sad_response=1.0 if siamese else 0.0,
        w_fad=0.1 if siamese else 0.0,
        w_occluded_identity=1.0 if siamese else 0.0,
    )
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    obj = SiameseObjective(net, cfg).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    step_fn = torch.compile(obj) if compile else obj
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    size = net.config.input_size
    x = torch.rand(batch, 3, size, size, device=device).contiguous(memory_format=fmt)
    xo = torch.rand(batch, 3, size, size, device=device).contiguous(memory_format=fmt) if siamese else None
    y = torch.randint(0, num_classes, (batch,), device=device)
    times = []
    for i in range(steps + 2):
        _sync(device)
        t = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = step_fn(x, xo, y)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _sync(device)
        if i >= 2:  # first two steps warm up oneDNN / cuDNN
            times.append(time.perf_counter() - t)
    return batch * (2 if siamese else 1) / statistics.median(times)


def inference_speed(model_name: str, device, *, bf16: bool, batch: int = 128, repeats: int = 20) -> dict:
    net = InterpretableFaceNet(get_model_config(model_name)).to(device).eval().to(memory_format=torch.channels_last)
    size = net.config.input_size
    one = torch.rand(1, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    many = torch.rand(batch, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for _ in range(3):
            net(one)
        lat = []
        for _ in range(repeats):
            _sync(device)
            t = time.perf_counter()
            net(one)
            _sync(device)
            lat.append(time.perf_counter() - t)
        net(many)
        thr = []
        for _ in range(3):
            _sync(device)
            t = time.perf_counter()
            net(many)
            _sync(device)
            thr.append(time.perf_counter() - t)
    return {"latency_ms_1": 1000 * statistics.median(lat), "throughput_img_s": batch / min(thr), "batch": batch}


def run_benchmark(args) -> dict:
    from interpface.files import write_json

    device = _device(args.device)
    bf16_ok = bf16_supported(device)
    model = InterpretableFaceNet(get_model_config(args.model))
    fwd_flops = count_flops(model) / 1.0
    train_flops_per_img = 3 * fwd_flops  # backward ~ 2x forward
    peak32 = matmul_peak(device, torch.float32)
    peak16 = matmul_peak(device, torch.bfloat16) if bf16_ok else None
    rows = {}
    settings = [
        ("fp32", False, False, False),
        ("fp32_channels_last", False, True, False),
        ("bf16_channels_last", True, True, False),
    ]
    if getattr(args, "compile", False):
        settings += [
            ("fp32_channels_last_compiled", False, True, True),
            ("bf16_channels_last_compiled", True, True, True),
        ]
    for name, bf16, cl, compiled in settings:
        if bf16 and not bf16_ok:
            continue
        ips = train_speed(args.model, args.batch, args.steps, device, bf16=bf16, channels_last=cl, compile=compiled)
        peak = peak16 if bf16 else peak32
        gflops = train_flops_per_img * ips / 1e9
        rows[name] = {"train_img_s": ips, "train_gflop_s": gflops, "utilisation_vs_matmul_peak": gflops / peak}
    inference = {"fp32": inference_speed(args.model, device, bf16=False)}
    if bf16_ok:
        inference["bf16"] = inference_speed(args.model, device, bf16=True)
    result = {
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu ({torch.get_num_threads()} threads)",
        "torch": torch.__version__,
        "model": args.model,
        "params": count_parameters(model),
        "forward_gflop_per_img": fwd_flops / 1e9,
        "batch": args.batch,
        "matmul_peak_gflop_s": {"fp32": peak32, "bf16": peak16},
        "training": rows,
        "inference": inference,
        "bf16_speedup_vs_fp32_default": (
            rows["bf16_channels_last"]["train_img_s"] / rows["fp32"]["train_img_s"]
            if "bf16_channels_last" in rows
            else None
        ),
    }
    print(
        f"{result['device']}, torch {result['torch']}, model '{args.model}': {result['params'] / 1e6:.2f} M params, "
        f"{result['forward_gflop_per_img']:.2f} GFLOP/img forward"
    )
    print(f"matmul peak: fp32 {peak32:.0f} GFLOP/s" + (f", bf16 {peak16:.0f} GFLOP/s" if peak16 else ""))
    print(f"{'training (siamese full step)':32s} {'img/s':>8s} {'GFLOP/s':>9s} {'of peak':>8s}")
    for name, r in rows.items():
        print(
            f"{name:32s} {r['train_img_s']:8.1f} {r['train_gflop_s']:9.1f} {100 * r['utilisation_vs_matmul_peak']:7.0f}%"
        )
    for name, r in inference.items():
        print(
            f"inference {name}: {r['latency_ms_1']:.1f} ms / image, {r['throughput_img_s']:.0f} img/s at batch {r['batch']}"
        )
    if result["bf16_speedup_vs_fp32_default"]:
        print(f"bf16 speed-up over fp32 default layout: {result['bf16_speedup_vs_fp32_default']:.2f}x")
    write_json(args.json, result)
    return result
