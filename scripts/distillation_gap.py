#!/usr/bin/env python
"""How closely a distilled student matches its teacher on the faces it trained on and on unseen ones.

For an interpface checkpoint trained with `teacher: dlib_resnet_v1`, print the mean 1 - cosine between
the student's projected f (teacher_projection(f), 128-d) and the teacher's centred descriptor:
on N DevTrain images (the cached precomputed targets, `interpface data teacher`: for a model taught online, the
un-augmented view of what it was taught) and on every usable DevTest face (the teacher
through its PyTorch port, centred with `training.data.teacher_centre` of the DevTrain descriptors, as the trainer's targets are).
A large train/test gap would mean overfitting; equal losses mean the student cannot follow the teacher.
Needs the LFW dataset and its prepared cache with teacher descriptors (`interpface data teacher`).

    .venv/bin/python scripts/distillation_gap.py assets/models/full [--images 1000] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interpface.evaluation.protocols import Evaluator, ModelEmbedder  # noqa: E402
from interpface.faces.datasets import load_dataset  # noqa: E402
from interpface.faces.prepare import PreparedDataset  # noqa: E402
from interpface.models.registry import resolve_model  # noqa: E402
from interpface.models.teacher import TEACHER_NAME, load_teacher  # noqa: E402
from training.data import load_training_set, teacher_centre  # noqa: E402


def projected_cosine(model, crops: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """crops (N, 110, 110, 3) uint8, targets (N, 128) unit-norm centred -> (N,) cosines (NaN where the
    target is missing)."""
    weight = model.module.teacher_projection.weight.detach().float().numpy()  # (128, N^f)
    projected = model.embed(crops, None) @ weight.T  # the projection is linear: normalising f first is harmless
    projected /= np.linalg.norm(projected, axis=1, keepdims=True)
    return (projected * targets).sum(axis=1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--images", type=int, default=1000, help="DevTrain images sampled (seed 0)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = resolve_model(args.checkpoint)
    if getattr(model.module, "teacher_projection", None) is None:
        raise SystemExit(f"{args.checkpoint}: this model has no teacher projection (not distilled)")

    train = load_training_set(teacher=TEACHER_NAME)
    rows = np.random.default_rng(0).choice(len(train), min(args.images, len(train)), replace=False)
    train_cos = projected_cosine(model, train.crops[rows], train.teacher[rows, 0])

    # the trainer's centre (DevTrain's descriptors) centres DevTest's descriptors too
    cache = PreparedDataset.open(load_dataset("lfw", None), None)
    centre = teacher_centre(load_teacher(cache.directory, TEACHER_NAME).lookup(train.relpaths))

    faces = Evaluator(ModelEmbedder(model), n_bootstrap=1).faces
    face_rows = faces.rows[np.nonzero(faces.ok)[0]]
    crops, landmarks = np.array(faces.crops[face_rows]), faces.landmarks[face_rows]
    targets = resolve_model("dlib-resnet").embed(crops, landmarks) - centre
    targets /= np.linalg.norm(targets, axis=1, keepdims=True)
    test_cos = projected_cosine(model, crops, targets)

    print(
        f"{args.checkpoint}: distillation 1 - cos  DevTrain {1 - np.nanmean(train_cos):.3f} "
        f"({np.isfinite(train_cos).sum()} images)  DevTest {1 - np.nanmean(test_cos):.3f} "
        f"({np.isfinite(test_cos).sum()} faces)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
