"""Private helpers shared by the analyses: crops -> network input, batching, embeddings."""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from interpface.errors import InterpfaceError
from interpface.faces.align import ALIGNED_SIZE, CROP_SIZE, center_crop


def input_size(model: nn.Module) -> int:
    """The model's square input side (config.input_size; 96 for models without a config)."""
    config = getattr(model, "config", None)
    return int(getattr(config, "input_size", CROP_SIZE))


def to_input(images, size: int = CROP_SIZE) -> torch.Tensor:
    """Images -> network input (N, 3, size, size) float32 in [0, 1].

    Accepts uint8 (N, H, W, 3) / (H, W, 3) arrays (aligned crops: their central size x size window is
    taken) or float tensors already shaped (N, 3, size, size) / (3, size, size) (returned as float32).
    """
    if isinstance(images, torch.Tensor):
        x = images.float()
        if x.dim() == 3:
            x = x[None]
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[-1] != size or x.shape[-2] != size:
            raise InterpfaceError(f"expected a (N, 3, {size}, {size}) tensor, got {tuple(images.shape)}")
        return x
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise InterpfaceError(f"expected (N, H, W, 3) images, got shape {arr.shape}")
    if arr.shape[1] < size or arr.shape[2] < size:
        raise InterpfaceError(f"images of {arr.shape[1]}x{arr.shape[2]} are smaller than the {size}px input")
    if arr.shape[1] != size or arr.shape[2] != size:
        arr = center_crop(arr, size)
    x = torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2).float()
    return x.div_(255.0) if arr.dtype == np.uint8 else x


def batch_slices(n: int, batch_size: int) -> Iterator[slice]:
    if batch_size < 1:
        raise InterpfaceError(f"batch size must be >= 1, got {batch_size}")
    for s in range(0, n, batch_size):
        yield slice(s, min(n, s + batch_size))


def embed(
    model: Callable[[torch.Tensor], torch.Tensor], images, *, batch_size: int = 32, size: int | None = None
) -> np.ndarray:
    """f of every image: (N, K) float32 (model(x) per batch under inference mode)."""
    size = size or (input_size(model) if isinstance(model, nn.Module) else CROP_SIZE)
    n = len(images)
    out = []
    with torch.inference_mode():
        for sl in batch_slices(n, batch_size):
            out.append(model(to_input(images[sl], size)).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def check_crops(crops, landmarks) -> tuple[np.ndarray, np.ndarray]:
    crops = np.asarray(crops)
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if crops.ndim != 4 or crops.shape[-1] != 3:
        raise InterpfaceError(f"crops must be (N, H, W, 3), got {crops.shape}")
    if landmarks.shape != (crops.shape[0], 68, 2):
        raise InterpfaceError(f"landmarks must be ({crops.shape[0]}, 68, 2), got {landmarks.shape}")
    if crops.shape[1] != ALIGNED_SIZE or crops.shape[2] != ALIGNED_SIZE:
        raise InterpfaceError(f"crops must be {ALIGNED_SIZE}x{ALIGNED_SIZE} aligned faces, got {crops.shape[1:3]}")
    return crops, landmarks
