"""Alignment: a similarity transform (rotation, uniform scale, translation) from a face's 68
landmarks to the template's, and the aligned crop (paper: 110x110; random 96x96 crops in training,
the central 96x96 at test time)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage.transform import SimilarityTransform

ALIGNED_SIZE = 110
CROP_SIZE = 96
#: Landmark-fit quality threshold (template pixels; the template's jaw is 66 px wide): faces whose
#: aligned 68 points lie further than this (RMS) from the template's are flagged as poor fits. Chosen
#: from LFW: the 99th percentile of the 13,159 single-face detections is 7.15 px (median 3.03 px);
#: above 7.5 px are strong poses and mis-fitted points (a turned jaw line, points on the background).
MAX_FIT_RESIDUAL = 7.5


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama) mapping src (N, 2) onto dst (N, 2); returns a (2, 3) matrix."""
    tform = (
        SimilarityTransform.from_estimate(np.asarray(src, np.float64), np.asarray(dst, np.float64))
        if hasattr(SimilarityTransform, "from_estimate")
        else None
    )
    if tform is None:
        tform = SimilarityTransform()
        tform.estimate(np.asarray(src, np.float64), np.asarray(dst, np.float64))
    return np.asarray(tform.params[:2], dtype=np.float64)


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine matrix to points (..., 2)."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a (2, 3) affine map, as a (2, 3) affine map."""
    a, t = np.asarray(matrix, np.float64)[:, :2], np.asarray(matrix, np.float64)[:, 2]
    inv = np.linalg.inv(a)
    return np.column_stack([inv, -inv @ t])


def fit_residual(aligned_landmarks: np.ndarray, template_landmarks: np.ndarray) -> np.ndarray:
    """Landmark-fit score: RMS distance (template pixels) between aligned 68 points (..., 68, 2) and
    the template's, after the similarity fit — so it is normalised by face size. (...,) float."""
    d = np.asarray(aligned_landmarks, np.float64) - np.asarray(template_landmarks, np.float64)
    return np.sqrt((d * d).sum(-1).mean(-1))


@dataclass
class AlignedFace:
    """crop: (size, size, 3) uint8; landmarks: (68, 2) float32 in crop pixels;
    matrix: (2, 3) image -> crop transform; fit_residual: landmark-fit score (see fit_residual)."""

    crop: np.ndarray
    landmarks: np.ndarray
    matrix: np.ndarray
    fit_residual: float = float("nan")


def align_face(
    rgb: np.ndarray, landmarks: np.ndarray, template_landmarks: np.ndarray, size: int = ALIGNED_SIZE
) -> AlignedFace:
    """Warp an (H, W, 3) image so its 68 landmarks best match the template's (in the size x size
    frame). Borders are replicated rather than black: black would look like an occluder."""
    matrix = estimate_similarity(landmarks, template_landmarks)
    crop = cv2.warpAffine(
        np.ascontiguousarray(rgb), matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    aligned = apply_affine(matrix, landmarks).astype(np.float32)
    return AlignedFace(crop, aligned, matrix, float(fit_residual(aligned, template_landmarks)))


def center_crop(aligned: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Central size x size window of (..., H, W, C) aligned crops (the test-time input)."""
    h, w = aligned.shape[-3:-1]
    top, left = (h - size) // 2, (w - size) // 2
    return aligned[..., top : top + size, left : left + size, :]


def center_crop_offset(aligned_size: int = ALIGNED_SIZE, size: int = CROP_SIZE) -> int:
    """Pixels removed on the top/left by center_crop: crop coordinates = aligned coordinates - offset."""
    return (aligned_size - size) // 2
