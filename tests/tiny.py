"""Small shared builders for tests: a tiny model with real BatchNorm statistics, and a copy of a few
LFW images in the LFW layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from interpface.models import InterpretableFaceNet, get_model_config


def tiny_model(seed: int = 0, *, he_init: bool = False) -> InterpretableFaceNet:
    """A tiny-config model in eval mode whose BatchNorm statistics come from a few train-mode passes.
    he_init: He-initialise convs and linears (the trainer's std-0.02 init leaves an untrained net
    nearly constant; He init gives input-dependent responses)."""
    torch.manual_seed(seed)
    net = InterpretableFaceNet(get_model_config("tiny"))
    if he_init:
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                torch.nn.init.kaiming_normal_(m.weight)
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(8, 3, 96, 96))
    return net.eval()


def copy_lfw_images(lfw, lfw_dir: Path, people: dict[str, int]) -> Path:
    """Copy the first n images of each person into <lfw_dir>/lfw-deepfunneled-160/; returns lfw_dir."""
    for person, n in people.items():
        (lfw_dir / "lfw-deepfunneled-160" / person).mkdir(parents=True)
        for k in range(1, n + 1):
            rel = f"{person}/{person}_{k:04d}.jpg"
            shutil.copy(lfw.path(rel), lfw_dir / "lfw-deepfunneled-160" / rel)
    return lfw_dir
