"""Face embeddings of arbitrary images: detect, align, then :meth:`FaceModel.embed` (the one embedding
path; its precision is a parameter). Rows are L2-normalised, so a dot product is the cosine similarity.
With ``flip=True`` the embeddings of the input and of its mirror image are averaged before normalising
(a common test-time augmentation; off by default, as in the paper).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from interpface.models.face_model import FaceModel, inference_dtype, l2_normalize

__all__ = ["embed_images", "l2_normalize", "DEFAULT_BATCH_SIZE", "inference_dtype"]

DEFAULT_BATCH_SIZE = 128


def embed_images(
    model: FaceModel,
    sources: Sequence,
    pipeline=None,
    fallback: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    flip: bool = False,
    precision: str | None = None,
    progress=None,
    details: list | None = None,
) -> tuple[np.ndarray, list[dict]]:
    """Detect, align and embed arbitrary images (paths, bytes or (H, W, 3) RGB arrays), in batches.

    Returns (emb (N, D) float32, one row per source in input order, NaN rows for failures;
    failures: [{"index", "source", "error"}]). A bad image (missing, undecodable, no face, too
    small, ...) is reported and skipped, never fatal. pipeline: a FacePipeline (built when None).
    details: a list that receives, per embedded source, {"index", "detector", "status", "n_faces",
    "fit_residual", "poor_fit"} (which detector found the face and how well the 68 points fit).
    precision: "fp32" | "bf16" | "auto" (None: the model's default)."""
    from interpface.faces.pipeline import FacePipeline

    pipeline = pipeline or FacePipeline()
    n = len(sources)
    out = np.full((n, model.dim), np.nan, np.float32)
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
        if crops:
            out[rows] = model.embed(
                np.stack(crops), np.stack(landmarks), batch_size=batch_size, precision=precision, flip=flip
            )
    return out, failures


def face_details(index: int, face) -> dict:
    """What the front end did with one image (a PreparedFace), for embed's report."""
    return {
        "index": index,
        "detector": face.detection.detector,
        "status": face.detection.status,
        "n_faces": face.detection.n_faces,
        "fit_residual": round(float(face.fit_residual), 3),
        "poor_fit": face.poor_fit,
    }


def _describe(source) -> str:
    if isinstance(source, np.ndarray):
        return f"<array {'x'.join(map(str, source.shape))}>"
    if isinstance(source, (bytes, bytearray)):
        return f"<{len(source)} bytes>"
    return str(source)
