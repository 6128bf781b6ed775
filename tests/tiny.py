"""Small shared builders for tests: a tiny model with real BatchNorm statistics, a copy of a few LFW
images in the LFW layout, and a prepared mini LFW with its protocol files."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from interpface.models.networks import InterpretableFaceNet, get_model_config


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


def prepared_mini_lfw(
    lfw, root: Path, people: dict[str, int], dev_pairs, view2_pairs, view2_folds: int, extra=None
) -> tuple[Path, Path]:
    """A mini LFW under root/lfw, every image a DevTest image: the first n images of each person,
    peopleDevTest/people.txt listing them, pairsDevTest.txt = dev_pairs (matched first, then as many
    mismatched), pairs.txt = view2_pairs in `view2_folds` folds (each: matched, then mismatched), empty
    DevTrain files. extra(lfw_dir) may add files (e.g. attributes) before it is prepared into
    root/cache. Returns (data_root, cache_dir)."""
    from interpface.faces.datasets import load_lfw
    from interpface.faces.prepare import prepare_dataset

    lfw_dir = copy_lfw_images(lfw, root / "lfw", people)
    listing = f"{len(people)}\n" + "".join(f"{p}\t{n}\n" for p, n in people.items())

    def lines(pairs):
        return "".join("\t".join(map(str, p)) + "\n" for p in pairs)

    (lfw_dir / "peopleDevTest.txt").write_text(listing)
    (lfw_dir / "peopleDevTrain.txt").write_text("0\n")
    (lfw_dir / "pairsDevTest.txt").write_text(f"{len(dev_pairs) // 2}\n" + lines(dev_pairs))
    (lfw_dir / "pairsDevTrain.txt").write_text("0\n")
    (lfw_dir / "people.txt").write_text("1\n" + listing)
    (lfw_dir / "pairs.txt").write_text(f"{view2_folds}\t{len(view2_pairs) // (2 * view2_folds)}\n" + lines(view2_pairs))
    if extra is not None:
        extra(lfw_dir)
    cache = root / "cache"
    prepare_dataset(load_lfw(root), cache_dir=cache, workers=1, progress=False)
    return root, cache
