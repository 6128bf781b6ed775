"""One face image in, an aligned crop out: load -> detect + 68 landmarks -> align to the template."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from interpface.faces.align import align_face
from interpface.faces.images import load_image
from interpface.faces.landmarks import Detection, LandmarkDetector
from interpface.faces.template import Template, default_template


@dataclass
class PreparedFace:
    """image: the decoded (H, W, 3) RGB input; detection: where the face was found (and by which
    detector); crop: (110, 110, 3) uint8 aligned crop; landmarks: (68, 2) in crop pixels;
    fit_residual: landmark-fit score in template pixels (align.fit_residual; > MAX_FIT_RESIDUAL = poor)."""

    image: np.ndarray
    detection: Detection
    crop: np.ndarray
    landmarks: np.ndarray
    matrix: np.ndarray
    fit_residual: float = float("nan")

    @property
    def poor_fit(self) -> bool:
        from interpface.faces.align import MAX_FIT_RESIDUAL

        return bool(self.fit_residual > MAX_FIT_RESIDUAL)


class FacePipeline:
    """Loads the dlib models once; `prepare` handles one image (path, bytes or RGB array)."""

    def __init__(self, template: Template | None = None, landmark_model=None):
        self.template = template or default_template()
        self.detector = LandmarkDetector(landmark_model)

    def prepare(self, source: str | os.PathLike | bytes | np.ndarray, *, fallback: bool = False) -> PreparedFace:
        rgb = source if isinstance(source, np.ndarray) else load_image(source)
        det = self.detector.detect(rgb, fallback=fallback)
        face = align_face(rgb, det.landmarks, self.template.landmarks, self.template.size)
        return PreparedFace(rgb, det, face.crop, face.landmarks, face.matrix, face.fit_residual)
