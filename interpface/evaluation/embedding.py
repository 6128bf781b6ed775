"""Face embeddings: aligned crops or arbitrary images in, cosine-normalised representations out.

The representation is the model's f (paper: the 320-d average-pooled LMF responses), L2-normalised
so that a dot product is the cosine similarity. Test-time input is the central 96x96 window of the
110x110 aligned crop (paper §4.1). With ``flip=True`` f of the image and of its mirror image are
averaged before normalising (a common test-time augmentation; off by default, as in the paper).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from interpface.faces.align import center_crop

__all__ = ["embed_crops", "embed_images", "l2_normalize", "DEFAULT_BATCH_SIZE", "inference_dtype"]

DEFAULT_BATCH_SIZE = 128


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of x (N, D) scaled to unit length (all-zero rows stay zero)."""
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), eps)


@functools.lru_cache(maxsize=1)
def _cpu_has_native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def inference_dtype(device_type: str = "cpu") -> torch.dtype:
    """bf16 autocast on CPUs with native bf16 (AVX512-BF16 / AMX), else fp32; INTERPFACE_EVAL_BF16=0/1
    forces it off/on. Measured on the 2-core dev CPU, cpu-config model, all 3,708 DevTest images,
    1 thread, training running alongside: fp32 58 s, bf16 30 s; embeddings' cosine to fp32 >= 0.998
    (mean 0.9999: LMF's top-24 selection occasionally flips); LFW DevTest metrics equal within noise
    (View 1 accuracy 60.6 vs 60.8 ± 4.4 %, AUC 65.48 vs 65.47 %, EER 39.9 vs 39.9 %, Rank-1/5 equal,
    on an early base checkpoint). GPUs and other CPUs: fp32."""
    env = os.environ.get("INTERPFACE_EVAL_BF16")
    if env in ("0", "1"):
        return torch.bfloat16 if env == "1" else torch.float32
    if device_type == "cpu" and _cpu_has_native_bf16():
        return torch.bfloat16
    return torch.float32


def _model_device(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def embed_crops(model: torch.nn.Module, crops: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE,
                flip: bool = False) -> np.ndarray:
    """crops: (N, 110, 110, 3) uint8 aligned crops (or already (N, 96, 96, 3)) -> (N, D) float32,
    L2-normalised f of the central 96x96 window. The model must be in eval mode (load_model gives one)."""
    crops = np.asarray(crops)
    size = model.config.input_size
    n = len(crops)
    device = _model_device(model)
    dtype = inference_dtype(device.type)
    out = np.zeros((n, model.config.num_filters), np.float32)
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
        for start in range(0, n, batch_size):
            batch = center_crop(np.asarray(crops[start:start + batch_size]), size)
            x = torch.from_numpy(np.ascontiguousarray(batch)).to(device).permute(0, 3, 1, 2).float().div_(255.0)
            x = x.contiguous(memory_format=torch.channels_last)
            f = model(x).float()
            if flip:
                f = f + model(torch.flip(x, dims=[3]).contiguous(memory_format=torch.channels_last)).float()
            out[start:start + len(batch)] = f.cpu().numpy()
    return l2_normalize(out)


def embed_images(model, sources: Sequence, pipeline=None, fallback: bool = False,
                 batch_size: int = DEFAULT_BATCH_SIZE, flip: bool = False,
                 progress=None, details: list | None = None) -> tuple[np.ndarray, list[dict]]:
    """Detect, align and embed arbitrary images (paths, bytes or (H, W, 3) RGB arrays), in batches.

    Returns (emb (N, D) float32, one row per source in input order, NaN rows for failures;
    failures: [{"index", "source", "error"}]). A bad image (missing, undecodable, no face, too
    small, ...) is reported and skipped, never fatal. pipeline: a FacePipeline (built when None).
    details: a list that receives, per embedded source, {"index", "detector", "status", "n_faces",
    "fit_residual", "poor_fit"} (which detector found the face and how well the 68 points fit).
    model: an InterpretableFaceNet, or any interpface.models.adapters.FaceModel (which cuts its own input
    from the aligned crop; flip does not apply to it)."""
    from interpface.faces.pipeline import FacePipeline

    pipeline = pipeline or FacePipeline()
    n = len(sources)
    face_model = hasattr(model, "prepare") and hasattr(model, "dim")
    out = np.full((n, model.dim if face_model else model.config.num_filters), np.nan, np.float32)
    failures: list[dict] = []
    for start in range(0, n, batch_size):
        crops, landmarks, rows = [], [], []
        for i in range(start, min(n, start + batch_size)):
            try:
                face = pipeline.prepare(sources[i], fallback=fallback)
                crops.append(face.crop)
                landmarks.append(face.landmarks)
                rows.append(i)
                if details is not None:
                    details.append(face_details(i, face))
            except Exception as exc:  # noqa: BLE001 - one bad image never stops the batch
                failures.append({"index": i, "source": _describe(sources[i]), "error": f"{type(exc).__name__}: {exc}"})
            if progress is not None:
                progress(1)
        if crops and face_model:
            out[rows] = model.embed(np.stack(crops), np.stack(landmarks), batch_size)
        elif crops:
            out[rows] = embed_crops(model, np.stack(crops), batch_size=batch_size, flip=flip)
    return out, failures


def face_details(index: int, face) -> dict:
    """What the front end did with one image (a PreparedFace), for embed's report."""
    return {"index": index, "detector": face.detection.detector, "status": face.detection.status,
            "n_faces": face.detection.n_faces, "fit_residual": round(float(face.fit_residual), 3),
            "poor_fit": face.poor_fit}


def _describe(source) -> str:
    if isinstance(source, np.ndarray):
        return f"<array {'x'.join(map(str, source.shape))}>"
    if isinstance(source, (bytes, bytearray)):
        return f"<{len(source)} bytes>"
    return str(source)
