"""The canonical frontal face template (68 landmarks in the 110x110 aligned frame), its 8 border
points, their Delaunay mesh (142 triangles, paper Fig. 3) and named face regions.

The template ships in the repository's ``assets/template.json`` with a note on how it was made;
``build_template`` (CLI: ``interpface data template``) re-derives it from data.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import Delaunay

from interpface.errors import InterpfaceError
from interpface.faces.align import ALIGNED_SIZE, apply_affine, estimate_similarity
from interpface.files import assets_dir

# Landmark index groups (dlib / iBUG 68). "left"/"right" are the IMAGE's left/right.
JAW = list(range(0, 17))
LEFT_BROW, RIGHT_BROW = list(range(17, 22)), list(range(22, 27))
NOSE = list(range(27, 36))
LEFT_EYE, RIGHT_EYE = list(range(36, 42)), list(range(42, 48))
MOUTH = list(range(48, 68))

#: Placement of the mean shape in the aligned frame (chosen so the whole face, forehead included,
#: stays inside the central 96x96 test crop): jaw width in pixels and the landmarks' centre.
TEMPLATE_JAW_WIDTH = 66.0
TEMPLATE_CENTER = (54.5, 62.0)


def border_points(size: int = ALIGNED_SIZE) -> np.ndarray:
    """(8, 2): the 4 corners and 4 edge midpoints of the size x size frame (pixel centres 0..size-1)."""
    e = float(size - 1)
    m = e / 2
    return np.array([[0, 0], [m, 0], [e, 0], [e, m], [e, e], [m, e], [0, e], [0, m]], dtype=np.float64)


@dataclass(frozen=True)
class Region:
    """A named face region: an axis-aligned box (x0, y0, x1, y1) in template pixels."""

    name: str
    box: tuple[float, float, float, float]

    @property
    def center(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return ((x0 + x1) / 2, (y0 + y1) / 2)

    @property
    def size(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return (x1 - x0, y1 - y0)

    def contains(self, points: np.ndarray) -> np.ndarray:
        """points (..., 2) -> bool (...)."""
        p = np.asarray(points)
        x0, y0, x1, y1 = self.box
        return (p[..., 0] >= x0) & (p[..., 0] <= x1) & (p[..., 1] >= y0) & (p[..., 1] <= y1)


def _bbox(points: np.ndarray, pad: float = 0.0) -> tuple[float, float, float, float]:
    return (
        float(points[:, 0].min() - pad),
        float(points[:, 1].min() - pad),
        float(points[:, 0].max() + pad),
        float(points[:, 1].max() + pad),
    )


def regions_from_landmarks(lm: np.ndarray) -> dict[str, Region]:
    """Named regions from 68 template landmarks (68, 2). Boxes are padded a little so that a
    32x12 occluder centred on them covers the part."""
    brow_top = float(lm[LEFT_BROW + RIGHT_BROW, 1].min())
    eye_bottom = float(lm[LEFT_EYE + RIGHT_EYE, 1].max())
    boxes = {
        "left_eye": _bbox(lm[LEFT_EYE], 3),
        "right_eye": _bbox(lm[RIGHT_EYE], 3),
        "eyes": _bbox(lm[LEFT_EYE + RIGHT_EYE], 3),
        "nose": _bbox(lm[NOSE], 2),
        "mouth": _bbox(lm[MOUTH], 2),
        "forehead": (float(lm[17, 0]), max(0.0, brow_top - 18.0), float(lm[26, 0]), brow_top - 1.0),
        "left_cheek": (float(lm[1:4, 0].mean()) + 2, eye_bottom + 3, float(lm[31, 0]) - 2, float(lm[48, 1])),
        "right_cheek": (float(lm[35, 0]) + 2, eye_bottom + 3, float(lm[13:16, 0].mean()) - 2, float(lm[54, 1])),
        "chin": (float(lm[6, 0]), float(lm[57, 1]) + 2, float(lm[10, 0]), float(lm[8, 1])),
    }
    return {name: Region(name, box) for name, box in boxes.items()}


class FaceMesh:
    """Delaunay triangulation of 68 landmarks + 8 border points (76 vertices, 142 triangles).

    Points are located once in the template (triangle index + barycentric coordinates) and can
    then be re-placed in any face from that face's 76 mesh vertices.
    """

    def __init__(self, template_landmarks: np.ndarray, size: int = ALIGNED_SIZE):
        self.size = size
        self.template_landmarks = np.asarray(template_landmarks, dtype=np.float64)
        self.border = border_points(size)
        self.vertices = np.vstack([self.template_landmarks, self.border])  # (76, 2)
        self._delaunay = Delaunay(self.vertices)
        self.triangles = self._delaunay.simplices  # (142, 3) vertex indices

    def locate(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Template points (N, 2) -> (triangle index (N,), barycentric coordinates (N, 3))."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        tri = self._delaunay.find_simplex(points, tol=1e-9)
        if np.any(tri < 0):
            raise InterpfaceError(f"points outside the template frame: {points[tri < 0].tolist()}")
        t = self._delaunay.transform[tri]  # (N, 3, 2): affine map to barycentric
        b2 = np.einsum("nij,nj->ni", t[:, :2], points - t[:, 2])
        return tri, np.column_stack([b2, 1.0 - b2.sum(axis=1)])

    def face_vertices(self, landmarks: np.ndarray) -> np.ndarray:
        """The 76 mesh vertices of a face (..., 68, 2) -> (..., 76, 2). Its border points are the
        template's border moved by the similarity that best maps the template onto this face, so
        a similarity-transformed face moves every vertex by exactly that transform."""
        landmarks = np.asarray(landmarks, dtype=np.float64)
        flat = landmarks.reshape(-1, 68, 2)
        out = np.empty((flat.shape[0], 76, 2))
        for i, lm in enumerate(flat):
            matrix = estimate_similarity(self.template_landmarks, lm)
            out[i, :68] = lm
            out[i, 68:] = apply_affine(matrix, self.border)
        return out.reshape(landmarks.shape[:-2] + (76, 2))

    def warp(self, tri: np.ndarray, bary: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Re-place located points in faces: landmarks (..., 68, 2) -> points (..., N, 2)."""
        verts = self.face_vertices(landmarks)  # (..., 76, 2)
        corner_verts = verts[..., self.triangles[tri], :]  # (..., N, 3, 2)
        return np.einsum("...nkd,nk->...nd", corner_verts, bary)

    def to_template(self, points: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The inverse direction: points (N, 2) in one face (given its 68 landmarks) -> template
        frame, through the barycentric coordinates of the face's own mesh (same triangles)."""
        verts = self.face_vertices(landmarks)
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        tri_pts = verts[self.triangles]  # (142, 3, 2)
        # Barycentric coordinates of every point in every triangle; pick the one containing it.
        a, b, c = tri_pts[:, 0], tri_pts[:, 1], tri_pts[:, 2]
        v0, v1 = b - a, c - a
        den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]  # (142,)
        d = points[:, None, :] - a[None]  # (N, 142, 2)
        den_safe = np.where(np.abs(den) < 1e-12, 1e-12, den)
        l1 = (d[..., 0] * v1[:, 1] - v1[:, 0] * d[..., 1]) / den_safe
        l2 = (v0[:, 0] * d[..., 1] - d[..., 0] * v0[:, 1]) / den_safe
        l0 = 1 - l1 - l2
        bary = np.stack([l0, l1, l2], axis=-1)  # (N, 142, 3)
        # The containing triangle has all coordinates >= 0; with folds or points outside, take
        # the triangle whose most negative coordinate is largest (nearest).
        best = np.argmax(bary.min(axis=-1), axis=1)
        chosen = bary[np.arange(len(points)), best]
        tmpl_tri = self.vertices[self.triangles[best]]  # (N, 3, 2)
        return np.einsum("nk,nkd->nd", chosen, tmpl_tri)


@dataclass
class Template:
    """landmarks: (68, 2) in the size x size aligned frame; meta: how it was made."""

    landmarks: np.ndarray
    size: int = ALIGNED_SIZE
    meta: dict | None = None

    @functools.cached_property
    def mesh(self) -> FaceMesh:
        return FaceMesh(self.landmarks, self.size)

    @functools.cached_property
    def regions(self) -> dict[str, Region]:
        return regions_from_landmarks(self.landmarks)

    @property
    def digest(self) -> str:
        """Short hash of the landmark values: caches of aligned crops are keyed by it."""
        return hashlib.sha256(np.round(self.landmarks, 4).astype(np.float64).tobytes()).hexdigest()[:12]

    def region_of(self, point) -> str:
        """The name of the smallest region whose box holds `point` (x, y) (left_eye before eyes), or
        "none" outside every region or for a non-finite point."""
        p = np.asarray(point, dtype=np.float64)
        if p.shape != (2,) or not np.isfinite(p).all():
            return "none"
        holding = [r for r in self.regions.values() if r.contains(p)]
        return min(holding, key=lambda r: r.size[0] * r.size[1]).name if holding else "none"

    @functools.cached_property
    def face_box(self) -> tuple[float, float, float, float]:
        """Box of the face in the template: jaw/brow extent plus the forehead region."""
        x0, y0, x1, y1 = _bbox(self.landmarks)
        return (x0, min(y0, self.regions["forehead"].box[1]), x1, y1)

    def save(self, path: str | Path) -> None:
        meta = json.dumps(self.meta or {}, indent=1)[1:-1].strip()
        points = ",\n  ".join(f"[{x:.4f}, {y:.4f}]" for x, y in self.landmarks)
        Path(path).write_text(
            f'{{\n "size": {self.size},\n "landmarks": [\n  {points}\n ]' + (f",\n {meta}" if meta else "") + "\n}\n"
        )

    @staticmethod
    def load(path: str | Path) -> Template:
        data = json.loads(Path(path).read_text())
        lm = np.asarray(data.pop("landmarks"), dtype=np.float64)
        if lm.shape != (68, 2):
            raise InterpfaceError(f"{path}: template must hold 68 (x, y) landmarks, got {lm.shape}")
        return Template(lm, int(data.pop("size", ALIGNED_SIZE)), data)


def template_path() -> Path:
    return assets_dir() / "template.json"


@functools.lru_cache(maxsize=1)
def default_template() -> Template:
    """The shipped template (mean aligned landmarks of LFW DevTrain)."""
    path = template_path()
    if not path.is_file():
        raise InterpfaceError(f"template file missing: {path} (rebuild with `interpface data template`)")
    return Template.load(path)


def generalized_procrustes(shapes: np.ndarray, iterations: int = 10) -> np.ndarray:
    """Mean shape of (N, 68, 2) landmark sets under similarity transforms (GPA).
    Returns (68, 2), centred, unit Frobenius norm, upright (eyes level)."""
    shapes = np.asarray(shapes, dtype=np.float64)
    centred = shapes - shapes.mean(axis=1, keepdims=True)
    centred /= np.linalg.norm(centred, axis=(1, 2), keepdims=True)
    mean = centred[0]
    for _ in range(iterations):
        aligned = np.stack([apply_affine(estimate_similarity(s, mean), s) for s in centred])
        new_mean = aligned.mean(axis=0)
        new_mean -= new_mean.mean(axis=0)
        new_mean /= np.linalg.norm(new_mean)
        if np.allclose(new_mean, mean, atol=1e-9):
            break
        mean = new_mean
    # Level the eyes: rotate so the line between eye centres is horizontal.
    left, right = mean[LEFT_EYE].mean(axis=0), mean[RIGHT_EYE].mean(axis=0)
    angle = np.arctan2(right[1] - left[1], right[0] - left[0])
    c, s = np.cos(-angle), np.sin(-angle)
    return mean @ np.array([[c, s], [-s, c]])


def place_in_frame(mean_shape: np.ndarray, jaw_width: float = TEMPLATE_JAW_WIDTH, center=TEMPLATE_CENTER) -> np.ndarray:
    """Scale a mean shape so points 0-16 span `jaw_width` px and centre its landmarks at `center`."""
    shape = np.asarray(mean_shape, dtype=np.float64)
    scale = jaw_width / np.linalg.norm(shape[16] - shape[0])
    placed = (shape - shape.mean(axis=0)) * scale
    return placed + np.asarray(center)


def build_template(raw_landmarks: np.ndarray, *, meta: dict | None = None) -> Template:
    """Template from detected landmarks (N, 68, 2) in their original images: GPA mean shape,
    levelled, placed in the 110x110 frame."""
    return Template(place_in_frame(generalized_procrustes(raw_landmarks)), ALIGNED_SIZE, meta)
