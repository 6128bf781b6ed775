#!/usr/bin/env python
"""Seconds per training step: precomputed teacher targets vs the teacher run online (issue 35).

Two training states of the same network, batch size and config (default: training/configs/
stem_patient.yaml) step in turn on LFW DevTrain faces, so that another job sharing the CPU slows both
alike:

- **precomputed**: the `teacher_mode: precomputed` path: random window and flip of the aligned crop, the target looked up
  per image and flip (teacher_mode: precomputed, no colour jitter, no mixing; the targets are made
  here once by the port from the un-augmented crops, which takes the place of `interpface data
  teacher`'s file: the lookup costs the same);
- **online**: the config's own augmentation (colour jitter, mixup / cutmix) and the dlib port run on
  every step's views (bf16 autocast where the CPU has native bf16).

Each step is split into the batch (augmentation, and for online the teacher's chips), the teacher's
forward and the student's forward + backward + Adam step. Prints the median and mean of each and the
ratio online / precomputed; --json writes them.

    .venv/bin/python benchmarks/distill_step.py [--config training/configs/stem_patient.yaml]
        [--steps 30] [--warmup 3] [--images 512] [--threads 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent


def subset(data, n: int):
    """The first n images of a TrainingSet (same classes)."""
    from training.data import TrainingSet

    n = min(n, len(data))
    return TrainingSet(data.crops[:n], data.landmarks[:n], data.labels[:n], data.class_names, data.relpaths[:n])


class State:
    """One run's network, objective, optimizer and batches."""

    def __init__(self, cfg, data, teacher=None, maps=None):
        from training.objective import SiameseObjective
        from training.trainer import batch_maker, bf16_supported, build_model

        self.cfg, self.teacher = cfg, teacher
        torch.manual_seed(cfg.seed)
        self.net = build_model(cfg, data)
        if cfg.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.objective = SiameseObjective(self.net, cfg)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
        self.batches = batch_maker(cfg, data, chip_maps=maps)
        self.bf16 = cfg.bf16 and bf16_supported(torch.device("cpu"))
        self.times: list[tuple[float, float, float]] = []

    def step(self, step: int) -> None:
        from training.trainer import step_inputs

        t0 = time.perf_counter()
        batch = self.batches.batch(step)
        t1 = time.perf_counter()
        clean, occluded, labels, target, labels_b, mix_lam = step_inputs(batch, self.cfg, "cpu", self.teacher)
        t2 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            terms = self.objective(clean, occluded, labels, target, labels_b, mix_lam)
        self.opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        self.opt.step()
        t3 = time.perf_counter()
        self.times.append((t1 - t0, t2 - t1, t3 - t2))

    def summary(self, warmup: int) -> dict:
        t = np.array(self.times[warmup:])
        total = t.sum(axis=1)
        out = {"steps": len(t), "median_s": float(np.median(total)), "mean_s": float(total.mean())}
        for k, name in enumerate(("batch", "teacher", "student")):
            out[f"{name}_median_s"] = float(np.median(t[:, k]))
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "training/configs/stem_patient.yaml"))
    ap.add_argument("--steps", type=int, default=30, help="timed steps per mode (after --warmup)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--images", type=int, default=512, help="DevTrain images the batches are drawn from")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args()

    from training.config import load_config
    from training.data import load_training_set, teacher_targets
    from training.teacher_online import OnlineTeacher, chip_maps, cut_chips

    torch.set_num_threads(args.threads)
    online_cfg = load_config(args.config)
    if online_cfg.teacher_mode != "online":
        raise SystemExit(f"{args.config}: teacher_mode is not online")
    pre_cfg = load_config(
        args.config, ["teacher_mode=precomputed", "colour_jitter=0", "mixup_alpha=0", "cutmix_prob=0"]
    )
    full = load_training_set(online_cfg.dataset, online_cfg.split, online_cfg.data_root, online_cfg.cache_dir)
    data = subset(full, args.images)
    maps = chip_maps(data.landmarks, data.crops.shape[1])
    teacher = OnlineTeacher(precision="auto" if online_cfg.bf16 else "fp32")
    t0 = time.perf_counter()
    # the precomputed path's targets: the port on the un-augmented crops and their mirror images
    views = data.crops.astype(np.float32) / 255
    raw = np.stack(
        [
            teacher.describe(torch.from_numpy(cut_chips(v, maps[:, k])).permute(0, 3, 1, 2)).numpy()
            for k, v in ((0, views), (1, np.ascontiguousarray(views[:, :, ::-1])))
        ],
        axis=1,
    )
    data.teacher = teacher_targets(raw)
    describe_s = time.perf_counter() - t0
    teacher.set_centre((raw / np.linalg.norm(raw, axis=-1, keepdims=True)).reshape(-1, raw.shape[-1]).mean(axis=0))
    states = {"precomputed": State(pre_cfg, data), "online": State(online_cfg, data, teacher, maps)}
    for step in range(args.warmup + args.steps):
        for s in states.values():  # in turn: a neighbour's load lands on both
            s.step(step)
    res = {name: s.summary(args.warmup) for name, s in states.items()}
    res["ratio_median"] = res["online"]["median_s"] / res["precomputed"]["median_s"]
    res["ratio_mean"] = res["online"]["mean_s"] / res["precomputed"]["mean_s"]
    res["setup"] = {
        "config": str(args.config),
        "batch_size": online_cfg.batch_size,
        "model": online_cfg.model,
        "images": len(data),
        "threads": args.threads,
        "bf16": states["online"].bf16,
        "teacher_dtype": str(teacher.dtype),
        "cpu": platform.processor() or platform.machine(),
        "cpus": torch.get_num_threads(),
        "port_images_per_s_describing_targets": 2 * len(data) / describe_s,
        "load_average": list(__import__("os").getloadavg()),
    }
    print(
        f"batch {online_cfg.batch_size}, {args.steps} steps each after {args.warmup} warm-up, "
        f"{args.threads} threads, bf16 {states['online'].bf16}"
    )
    print(f"{'mode':<12} {'s/step med':>10} {'mean':>7} {'batch':>7} {'teacher':>8} {'student':>8}")
    for name in ("precomputed", "online"):
        r = res[name]
        print(
            f"{name:<12} {r['median_s']:>10.3f} {r['mean_s']:>7.3f} {r['batch_median_s']:>7.3f} "
            f"{r['teacher_median_s']:>8.3f} {r['student_median_s']:>8.3f}"
        )
    print(f"online / precomputed: {res['ratio_median']:.2f}x (median), {res['ratio_mean']:.2f}x (mean)")
    print(f"load average during the run: {res['setup']['load_average']}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
