#!/usr/bin/env python
"""Detection rate and time per image of each face detector, on LFW faces as they are and wearing
synthetic masks (and the other realistic occluders), in one run.

    .venv/bin/python benchmarks/detectors.py [--images 300] [--occluders mask,scarf,hand,sunglasses] [--json OUT]

Faces: seeded LFW DevTest images (with a dataset configured), else the test-set-style jittered
sample faces. For each image the reference face is HOG's detection on the clean image (images HOG
misses there are left out, so every face has a known box). Conditions: clean, and each occluder
painted on the original photo through those landmarks (interpface.faces.occluders, seeded per image).
Detectors: HOG alone, MMOD alone, relaxed HOG alone (lowered threshold, best window, kept when its
fitted points look like a face), and the chain (HOG, then MMOD, then relaxed HOG). A face is
found when a returned box overlaps the reference box (IoU > 0.3). Also reported: how many chain
detections align well (landmark-fit residual <= MAX_FIT_RESIDUAL, and the 12 eye points within 5% of
the face width of the clean fit's) and the mean time per image of each detector.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402


def _iou(a, b) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    area = lambda r: max(0, r[2] - r[0]) * max(0, r[3] - r[1])  # noqa: E731
    return inter / max(area(a) + area(b) - inter, 1e-9)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=300)
    p.add_argument("--occluders", default="mask,scarf,hand,sunglasses")
    p.add_argument("--json", help="write the figures as JSON")
    args = p.parse_args()

    from interpface.faces.align import MAX_FIT_RESIDUAL, align_face
    from interpface.faces.datasets import LFWProtocols, load_lfw
    from interpface.faces.images import load_image
    from interpface.faces.landmarks import LandmarkDetector
    from interpface.faces.occluders import occluder_for_condition
    from interpface.faces.template import default_template

    template = default_template()
    lfw = load_lfw()
    images = LFWProtocols.load(lfw.protocol_dir).dev_test_images
    pick = sorted(np.random.default_rng(0).choice(len(images), min(args.images, len(images)), replace=False))
    hog_only = LandmarkDetector(detectors="hog")
    chain = LandmarkDetector()
    conditions = ["clean"] + [c for c in args.occluders.split(",") if c]
    relaxed = LandmarkDetector(detectors="hog_relaxed")
    stats = {
        c: {
            "n": 0,
            "hog": 0,
            "mmod": 0,
            "relaxed": 0,
            "chain": 0,
            "chain_aligned": 0,
            "hog_s": 0.0,
            "mmod_s": 0.0,
            "relaxed_s": 0.0,
            "chain_s": 0.0,
            "found_by": {},
        }
        for c in conditions
    }
    for n_done, i in enumerate(pick):
        rgb = load_image(lfw.path(images[i].relpath))
        try:
            ref = hog_only.detect(rgb)
        except Exception:  # noqa: BLE001 - no reference face: left out
            continue
        face_w = float(np.ptp(ref.landmarks[:, 0]))
        for cond in conditions:
            img = (
                rgb if cond == "clean" else occluder_for_condition(cond, int(i), template).apply(rgb, ref.landmarks)[0]
            )
            s = stats[cond]
            s["n"] += 1
            t = time.perf_counter()
            hog_boxes = hog_only._hog(img)
            s["hog_s"] += time.perf_counter() - t
            t = time.perf_counter()
            mmod_boxes = chain._cnn(img)
            s["mmod_s"] += time.perf_counter() - t
            t = time.perf_counter()
            relaxed_boxes = relaxed._hog_relaxed(img)
            s["relaxed_s"] += time.perf_counter() - t
            s["relaxed"] += any(_iou(b, ref.box) > 0.3 for b in relaxed_boxes)
            s["hog"] += any(_iou(b, ref.box) > 0.3 for b in hog_boxes)
            s["mmod"] += any(_iou(b, ref.box) > 0.3 for b in mmod_boxes)
            t = time.perf_counter()
            try:
                det = chain.detect(img)
            except Exception:  # noqa: BLE001 - not found (or too small)
                det = None
            s["chain_s"] += time.perf_counter() - t
            if det is not None and _iou(det.box, ref.box) > 0.3:
                s["chain"] += 1
                s["found_by"][det.detector] = s["found_by"].get(det.detector, 0) + 1
                residual = align_face(img, det.landmarks, template.landmarks).fit_residual
                eyes = np.linalg.norm(det.landmarks[36:48] - ref.landmarks[36:48], axis=1).mean()
                s["chain_aligned"] += bool(residual <= MAX_FIT_RESIDUAL and eyes <= 0.05 * face_w)
        if (n_done + 1) % 50 == 0:
            print(f"{n_done + 1} images ...", flush=True)
    print(
        f"{'condition':<11} {'faces':>5} {'HOG':>7} {'MMOD':>7} {'relaxed':>8} {'chain':>7} {'aligned':>8} "
        f"{'HOG ms':>7} {'MMOD ms':>8} {'relax ms':>9} {'chain ms':>9}  found by"
    )
    for cond, s in stats.items():
        n = max(s["n"], 1)
        print(
            f"{cond:<11} {s['n']:>5} {100 * s['hog'] / n:>6.1f}% {100 * s['mmod'] / n:>6.1f}% "
            f"{100 * s['relaxed'] / n:>7.1f}% {100 * s['chain'] / n:>6.1f}% {100 * s['chain_aligned'] / n:>7.1f}% "
            f"{1000 * s['hog_s'] / n:>7.0f} {1000 * s['mmod_s'] / n:>8.0f} {1000 * s['relaxed_s'] / n:>9.0f} "
            f"{1000 * s['chain_s'] / n:>9.0f}  {s['found_by']}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(stats, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
