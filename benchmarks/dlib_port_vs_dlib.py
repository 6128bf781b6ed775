#!/usr/bin/env python
"""The PyTorch port of dlib's ResNet against dlib's own C++, on the same 150x150 chips, in one run;
and whether the trainer should run the teacher online or read precomputed descriptors.

    .venv/bin/python benchmarks/dlib_port_vs_dlib.py [--images 256] [--threads 1,2] [--json OUT]

Chips are cut (dlib.get_face_chip) from seeded LFW DevTest images when a dataset is configured, else
from the bundled sample faces (jittered). Each figure is the best of --repeats runs. Printed: images/s of
dlib's batched compute_face_descriptor, of the port in fp32 and in bf16 autocast, the ratios, and the
port's agreement with dlib (min cosine, max |difference|). Then one training step of the student
(the `cpu` network, batch 64 + its occluded copy, bf16) against the teacher's forward on the same
batch's 64 chips: the share of step time an online teacher would add.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def _chips(n: int) -> tuple[np.ndarray, str]:
    from interpface.errors import DatasetError
    from interpface.faces.images import load_image
    from interpface.faces.landmarks import LandmarkDetector
    from interpface.models.teacher import face_chip

    det = LandmarkDetector()
    try:
        from interpface.faces.datasets import LFWProtocols, load_lfw

        lfw = load_lfw()
        images = LFWProtocols.load(lfw.protocol_dir).dev_test_images
        pick = np.random.default_rng(0).choice(len(images), n, replace=False)
        chips = []
        for i in pick:
            rgb = load_image(lfw.path(images[i].relpath))
            try:
                chips.append(face_chip(rgb, det.detect(rgb).landmarks))
            except Exception:  # noqa: BLE001 - a face dlib cannot find is skipped
                continue
        return np.stack(chips), f"{len(chips)} LFW DevTest chips"
    except DatasetError:
        from interpface.faces.samples import sample_faces

        base = [face_chip(rgb, det.detect(rgb).landmarks) for rgb in sample_faces().values()]
        rng = np.random.default_rng(0)
        chips = [
            np.clip(base[i % len(base)].astype(int) + rng.integers(-8, 9, base[0].shape), 0, 255).astype(np.uint8)
            for i in range(n)
        ]
        return np.stack(chips), f"{n} jittered sample-face chips (no dataset configured)"


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    p.add_argument("--batch", type=int, default=64, help="port batch size")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", help="write the figures as JSON")
    args = p.parse_args()

    import dlib
    import torch

    from interpface.models.dlib_files import find_dlib_resnet_model
    from interpface.models.dlib_port import load_dlib_port, port_descriptors

    chips, source = _chips(args.images)
    n = len(chips)
    net = dlib.face_recognition_model_v1(str(find_dlib_resnet_model()))
    port = load_dlib_port()
    report = {"chips": source, "n": n, "rows": []}
    print(f"{source}; best of {args.repeats}")
    print(
        f"{'threads':>7} {'dlib C++ img/s':>15} {'port fp32 img/s':>16} {'port bf16 img/s':>16} "
        f"{'fp32/dlib':>10} {'bf16/dlib':>10} {'bf16 min cos':>13}"
    )
    ref = np.asarray(net.compute_face_descriptor(list(chips)), np.float64)
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        dlib_s = _best(lambda: net.compute_face_descriptor(list(chips)), args.repeats)  # dlib: its own threading
        fp32_s = _best(lambda: port_descriptors(port, chips, batch=args.batch), args.repeats)
        bf16_s = _best(lambda: port_descriptors(port, chips, batch=args.batch, bf16=True), args.repeats)
        row = {
            "threads": threads,
            "dlib_img_s": n / dlib_s,
            "port_fp32_img_s": n / fp32_s,
            "port_bf16_img_s": n / bf16_s,
        }
        for key, bf16 in (("fp32", False), ("bf16", True)):
            out = port_descriptors(port, chips, batch=args.batch, bf16=bf16).astype(np.float64)
            cos = (ref * out).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(out, axis=1)
            row[f"{key}_min_cosine"], row[f"{key}_max_abs_diff"] = float(cos.min()), float(np.abs(ref - out).max())
        report["rows"].append(row)
        print(
            f"{threads:>7} {row['dlib_img_s']:>15.1f} {row['port_fp32_img_s']:>16.1f} {row['port_bf16_img_s']:>16.1f} "
            f"{row['port_fp32_img_s'] / row['dlib_img_s']:>9.2f}x {row['port_bf16_img_s'] / row['dlib_img_s']:>9.2f}x "
            f"{row['bf16_min_cosine']:>13.6f}"
        )
    print(
        f"fp32 agreement: min cosine {report['rows'][0]['fp32_min_cosine']:.8f}, "
        f"max |difference| {report['rows'][0]['fp32_max_abs_diff']:.2e}"
    )

    # Online vs precomputed teacher: one student step vs the teacher on the same 64 faces.
    from interpface.models.networks import InterpretableFaceNet, get_model_config
    from training.config import TrainConfig
    from training.objective import SiameseObjective

    torch.set_num_threads(max(int(t) for t in args.threads.split(",")))
    cfg = TrainConfig(
        occlusion=True,
        w_fad=0.1,
        w_occluded_identity=1.0,
        w_sad_filter=1.0,
        w_sad_response=1.0,
        teacher="dlib_resnet_v1",
        w_distill_cosine=1.0,
        w_distill_relation=10.0,
    )
    student = InterpretableFaceNet(get_model_config("cpu", num_classes=4000, teacher_dim=128)).to(
        memory_format=torch.channels_last
    )
    obj = SiameseObjective(student, cfg)
    opt = torch.optim.Adam(student.parameters(), lr=1e-4)
    x = torch.rand(64, 3, 96, 96).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 4000, (64,))
    target = torch.nn.functional.normalize(torch.randn(64, 128), dim=1)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = obj(x, x.flip(3), labels, target)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    step_s = _best(step, args.repeats)
    teacher_s = _best(lambda: port_descriptors(port, chips[:64], batch=64, bf16=True), args.repeats)
    table = np.zeros((9500, 2, 128), np.float32)
    idx = np.random.default_rng(0).choice(9500, 64, replace=False)
    lookup_s = _best(lambda: torch.from_numpy(table[idx, 0]), args.repeats)
    report["online_vs_precomputed"] = {
        "student_step_s": step_s,
        "teacher_batch_bf16_s": teacher_s,
        "lookup_s": lookup_s,
        "online_overhead": teacher_s / step_s,
    }
    print(
        f"training step (cpu network, 64 + 64 occluded, bf16): {step_s * 1000:.0f} ms; the teacher on the same 64 "
        f"faces (port, bf16): {teacher_s * 1000:.0f} ms = +{100 * teacher_s / step_s:.0f}% per step online "
        f"(+ cutting 64 chips from the originals); precomputed: {lookup_s * 1e6:.0f} us of table lookup"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
