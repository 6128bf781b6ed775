"""Face detection and the 68-point landmarks (dlib shape predictor).

Detection is a chain: dlib's HOG frontal detector first (fast, ~25-110 ms); when it finds no face,
dlib's MMOD CNN face detector (``mmod_human_face_detector.dat`` from the pinned face-recognition-models
package: slower, but it holds up under masks and other occluders); when that finds none either, HOG
again with its threshold lowered ("hog_relaxed": a mask or a hand pushes a real face's HOG score below
0, rarely below -1), keeping only the best-scoring window and only if the 68 points fitted in it look
like a face (landmark-fit residual <= align.MAX_FIT_RESIDUAL); then, for pre-cropped datasets, the
optional central-box fallback. ``Detection.detector`` records which one found the face.

Landmark order is dlib's / iBUG 300-W: 0-16 jaw, 17-21 and 22-26 brows, 27-35 nose, 36-41 and
42-47 eyes, 48-67 mouth. Points 36-41 are the eye on the *image's* left (the subject's right eye).
Coordinates are pixels with pixel centres at integers (dlib's and OpenCV's convention).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interpface.errors import FaceTooSmallError, LandmarkModelMissingError, NoFaceError

DEBIAN_MODEL_PATH = Path("/usr/share/dlib/shape_predictor_68_face_landmarks.dat")
MODEL_FILENAME = "shape_predictor_68_face_landmarks.dat"
MMOD_FILENAME = "mmod_human_face_detector.dat"
MMOD_HELP = (
    "dlib's MMOD CNN face detector is not installed: `pip install face-recognition-models==0.3.0` "
    f"or point INTERPFACE_DLIB_MMOD at a {MMOD_FILENAME}"
)
#: detector chains by name (the CLI's --detectors and LandmarkDetector(detectors=...))
DETECTORS = ("hog", "mmod", "hog_relaxed")
INSTALL_HELP = (
    "the dlib 68-point landmark model is not installed: run `sudo apt-get install libdlib-data` "
    f"(gives {DEBIAN_MODEL_PATH}) or `pip install face-recognition-models`, "
    "or point INTERPFACE_DLIB_68 at a shape_predictor_68_face_landmarks.dat"
)
#: Smallest face (detector box side, pixels) we accept: below this the 68-point fit is unreliable.
MIN_FACE_SIZE = 30
#: Central-box fallback when no detector box is known: this fraction of the shorter image side.
DEFAULT_FALLBACK_FRACTION = 0.62


def find_model_file(
    filename: str,
    path,
    env_var: str,
    install_help: str,
    error=LandmarkModelMissingError,
    system_paths: tuple[Path, ...] = (),
) -> Path:
    """Locate a dlib model file: an explicit path, then $env_var, then the face-recognition-models
    package's copy (found without importing it: its import needs pkg_resources), then system paths.
    Raises `error` with `install_help` when none exists."""
    for candidate, what in ((path, "model file"), (os.environ.get(env_var), env_var)):
        if candidate:
            p = Path(candidate).expanduser()
            if not p.is_file():
                raise error(f"{what} {p} does not exist; {install_help}")
            return p
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            p = Path(location) / "models" / filename
            if p.is_file():
                return p
    for p in system_paths:
        if p.is_file():
            return p
    raise error(install_help)


def find_mmod_model(path: str | os.PathLike | None = None) -> Path:
    """Locate dlib's MMOD CNN face detector: explicit path, $INTERPFACE_DLIB_MMOD, face-recognition-models."""
    return find_model_file(MMOD_FILENAME, path, "INTERPFACE_DLIB_MMOD", MMOD_HELP)


def find_landmark_model(path: str | os.PathLike | None = None) -> Path:
    """Locate the 68-point model: explicit path, $INTERPFACE_DLIB_68, the face-recognition-models
    package's file, then Debian's /usr/share/dlib file."""
    return find_model_file(MODEL_FILENAME, path, "INTERPFACE_DLIB_68", INSTALL_HELP, system_paths=(DEBIAN_MODEL_PATH,))


@dataclass
class Detection:
    """Landmarks of the chosen face in one image.

    landmarks: (68, 2) float32 (x, y) image pixels; box: (left, top, right, bottom);
    n_faces: faces the detector found (0 for a fallback); status: "ok", "multiple" (largest taken)
    or "fallback" (no face found, points fitted in a central box); detector: which link of the chain
    found it ("hog", "mmod", "hog_relaxed" or "fallback").
    """

    landmarks: np.ndarray
    box: tuple[int, int, int, int]
    n_faces: int
    status: str
    detector: str = "hog"


class LandmarkDetector:
    """The detector chain (default HOG, then MMOD) + the 68-point predictor. Not thread-safe; cheap
    to build (~0.1 s; the MMOD network is loaded on first use) per process."""

    #: HOG score the relaxed pass accepts (the default detector's threshold is 0). Measured on 58 seeded
    #: LFW DevTest faces wearing a synthetic mask: 0 finds 38%, -0.5 62%, -1.0 88% (best window; 1 wrong)
    HOG_RELAXED_THRESHOLD = -1.0
    #: MMOD is not run on images with more pixels than this (its cost grows with the area)
    MMOD_MAX_PIXELS = 2000 * 2000

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        *,
        min_face_size: int = MIN_FACE_SIZE,
        detectors: tuple[str, ...] | str = DETECTORS,
        mmod_model: str | os.PathLike | None = None,
    ):
        import dlib  # imported here so that the rest of the package works without dlib

        if isinstance(detectors, str):
            detectors = tuple(d.strip() for d in detectors.split(",") if d.strip())
        unknown = [d for d in detectors if d not in DETECTORS]
        if unknown or not detectors:
            from interpface.errors import ConfigError

            raise ConfigError(f"unknown detector(s) {unknown or detectors}; choose from {', '.join(DETECTORS)}")
        self.detectors = tuple(detectors)
        self.model_path = find_landmark_model(model_path)
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(self.model_path))
        self._mmod_path = find_mmod_model(mmod_model) if "mmod" in self.detectors else None
        self._mmod = None
        self.min_face_size = min_face_size

    def _hog(self, rgb: np.ndarray) -> list:
        # Small images are upsampled once: dlib's HOG window is 80x80 and misses smaller faces.
        rects = self._detector(rgb, 0)
        if len(rects) == 0 and max(rgb.shape[:2]) <= 640:
            rects = self._detector(rgb, 1)
        return [(r.left(), r.top(), r.right(), r.bottom()) for r in rects]

    #: MMOD runs on the image resized so its longer side is this many pixels: its cost grows with the
    #: area (a 1200 px image takes ~10 s on one core), and its 80 px window still finds faces that
    #: fill a sixth of the frame; small images are enlarged to it for the same reason.
    MMOD_SIDE = 400

    def _cnn(self, rgb: np.ndarray) -> list:
        import cv2

        if rgb.shape[0] * rgb.shape[1] > self.MMOD_MAX_PIXELS:
            return []
        if self._mmod is None:
            self._mmod = self._dlib.cnn_face_detection_model_v1(str(self._mmod_path))
        scale = self.MMOD_SIDE / max(rgb.shape[:2])
        small = cv2.resize(
            rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        )
        dets = self._mmod(np.ascontiguousarray(small), 0)
        boxes = []
        for d in dets:
            # The 68-point predictor was trained on HOG-style boxes; MMOD's are tighter and higher.
            # Measured on the 58 of 60 seeded LFW DevTrain faces that both detectors find: HOG's side
            # is 1.09x MMOD's (median), its centre 0.06 sides lower.
            x0, y0, x1, y1 = (v / scale for v in (d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()))
            side = (x1 - x0) * self.MMOD_TO_HOG_SCALE
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + self.MMOD_TO_HOG_SHIFT * (x1 - x0)
            boxes.append(tuple(int(round(v)) for v in (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)))
        return boxes

    MMOD_TO_HOG_SCALE = 1.09
    MMOD_TO_HOG_SHIFT = 0.06

    def _hog_relaxed(self, rgb: np.ndarray) -> list:
        """The best HOG window above HOG_RELAXED_THRESHOLD whose fitted 68 points look like a face."""
        from interpface.faces.align import MAX_FIT_RESIDUAL, apply_affine, estimate_similarity, fit_residual
        from interpface.faces.template import default_template

        upsample = 1 if max(rgb.shape[:2]) <= 640 else 0
        rects, scores, _ = self._detector.run(rgb, upsample, self.HOG_RELAXED_THRESHOLD)
        if not len(rects):
            return []
        r = rects[int(np.argmax(scores))]
        box = (r.left(), r.top(), r.right(), r.bottom())
        template = default_template().landmarks
        lm = self.fit(rgb, box)
        residual = float(fit_residual(apply_affine(estimate_similarity(lm, template), lm), template))
        return [box] if residual <= MAX_FIT_RESIDUAL else []

    def detect_boxes_with(self, rgb: np.ndarray) -> tuple[list[tuple[int, int, int, int]], str | None]:
        """(all face boxes (left, top, right, bottom), the detector that found them) — the first
        detector of the chain that finds any face; ([], None) when none does."""
        run = {"hog": self._hog, "mmod": self._cnn, "hog_relaxed": self._hog_relaxed}
        for name in self.detectors:
            boxes = run[name](rgb)
            if boxes:
                return boxes, name
        return [], None

    def detect_boxes(self, rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
        """All face boxes (left, top, right, bottom) of the first detector in the chain that finds any."""
        return self.detect_boxes_with(rgb)[0]

    def fit(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """68 landmarks (68, 2) float32 fitted inside a box."""
        rect = self._dlib.rectangle(*(int(round(v)) for v in box))
        shape = self._predictor(rgb, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def detect(self, rgb: np.ndarray, *, fallback: bool = False, fallback_box=None) -> Detection:
        """Landmarks of the largest face in an (H, W, 3) uint8 RGB image.

        No face: NoFaceError, or with fallback=True the points are fitted in `fallback_box`
        (default: a centred square of DEFAULT_FALLBACK_FRACTION of the shorter side) — meant for
        pre-cropped datasets whose face fills the middle. Largest face smaller than
        min_face_size: FaceTooSmallError.
        """
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        boxes, found_by = self.detect_boxes_with(rgb)
        if not boxes:
            if not fallback:
                raise NoFaceError(f"no face found in the image (detectors tried: {', '.join(self.detectors)})")
            box = fallback_box if fallback_box is not None else central_box(rgb.shape[:2])
            return Detection(self.fit(rgb, box), tuple(int(round(v)) for v in box), 0, "fallback", "fallback")
        box = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
        side = min(box[2] - box[0], box[3] - box[1])
        if side < self.min_face_size:
            raise FaceTooSmallError(
                f"the face is {side} px wide ({found_by}); at least {self.min_face_size} px is needed"
            )
        return Detection(self.fit(rgb, box), box, len(boxes), "ok" if len(boxes) == 1 else "multiple", found_by)


def central_box(
    shape_hw: tuple[int, int], fraction: float = DEFAULT_FALLBACK_FRACTION, center=(0.5, 0.5)
) -> tuple[float, float, float, float]:
    """A square box of `fraction` x the shorter side, centred at `center` (fractions of W, H)."""
    h, w = shape_hw
    side = fraction * min(h, w)
    cx, cy = center[0] * w, center[1] * h
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
