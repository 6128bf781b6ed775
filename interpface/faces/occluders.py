"""Realistic occluders — surgical and cloth masks, sunglasses, a scarf, a hand — placed through the
landmark mesh like the paper's rectangle, so each follows the face it is put on.

An occluder is drawn once (seeded) in the *template* frame: a few polygons whose vertices are built
from the template's 68 landmarks (a mask runs from the nose bridge down around the jaw line; lenses
surround the eyes; a hand is a palm and fingers over one face part), plus a material (colour, pattern,
opacity). Every vertex is located in the template mesh (triangle + barycentric coordinates) and
re-placed in each face through that face's own mesh, exactly as `PhysicalMask` places the rectangle's
corners. The material is painted in face pixels at template coordinates given by the face's
similarity fit (pleats, stripes and shading follow the face's scale and roll). Textures are
procedural: nothing is read from disk, and one seed fixes every choice.

    occ = draw_occluder("surgical_mask", np.random.default_rng(3))
    occluded, mask = occ.apply(crop, landmarks)            # (H, W, 3) uint8, (H, W) bool
    batch, masks = occ.apply_batch(crops, landmarks)       # one physical occluder for a batch
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from skimage.draw import polygon2mask

from interpface.errors import InterpfaceError
from interpface.faces.align import apply_affine, estimate_similarity
from interpface.faces.template import Template, default_template

OCCLUDER_KINDS = ("surgical_mask", "cloth_mask", "sunglasses", "scarf", "hand")
#: evaluation / CLI condition names -> occluder kinds ("mask": surgical or cloth, by seed)
CONDITION_KINDS = {
    "mask": ("surgical_mask", "cloth_mask"),
    "sunglasses": ("sunglasses",),
    "scarf": ("scarf",),
    "hand": ("hand",),
}
#: where each kind is allowed to be (template regions it must cover / must leave free), for tests and docs
COVERS = {
    "surgical_mask": ("mouth", "chin"),
    "cloth_mask": ("mouth", "chin"),
    "sunglasses": ("left_eye", "right_eye"),
    "scarf": ("mouth", "chin"),
}
LEAVES = {
    "surgical_mask": ("left_eye", "right_eye", "forehead"),
    "cloth_mask": ("left_eye", "right_eye", "forehead"),
    "sunglasses": ("mouth", "chin"),
    "scarf": ("left_eye", "right_eye", "forehead"),
}


@dataclass
class Material:
    """How a part is painted: base colour (RGB 0-255), pattern name and parameters, opacity."""

    color: tuple[float, float, float]
    pattern: str = "plain"  # plain | pleats | stripes | checks | dots | knit | lens | skin
    params: dict = field(default_factory=dict)
    opacity: float = 1.0


@dataclass
class OccluderPart:
    polygon: np.ndarray  # (K, 2) template-frame vertices
    material: Material


@dataclass
class Occluder:
    """A physical occluder: parts located in the template mesh, painted over every face it is applied to."""

    kind: str
    parts: list[OccluderPart]
    template: Template
    seed: int | None = None
    _located: list = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        edge = self.template.size - 1.0
        for part in self.parts:
            pts = np.clip(np.asarray(part.polygon, np.float64), 0.0, edge)  # keep inside the mesh
            self._located.append(self.template.mesh.locate(pts))

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "seed": self.seed,
            "parts": [
                {
                    "polygon": p.polygon.round(2).tolist(),
                    "color": list(map(float, p.material.color)),
                    "pattern": p.material.pattern,
                    "opacity": p.material.opacity,
                }
                for p in self.parts
            ],
        }

    def polygons(self, landmarks: np.ndarray) -> list[np.ndarray]:
        """Each part's polygon in one face: landmarks (68, 2) -> [(K, 2), ...] in that face's pixels."""
        return [self.template.mesh.warp(tri, bary, landmarks) for tri, bary in self._located]

    def mask(self, landmarks: np.ndarray, size) -> np.ndarray:
        """(H, W) bool: pixels the occluder covers in the face with these landmarks."""
        h, w = (size, size) if isinstance(size, int) else size
        out = np.zeros((h, w), bool)
        for poly in self.polygons(landmarks):
            out |= polygon2mask((h, w), poly[:, ::-1])
        return out

    def apply(self, image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Paint the occluder on one face: (H, W, 3) uint8 + (68, 2) landmarks in its pixels ->
        (occluded copy, (H, W) bool mask of covered pixels). Works in any frame (aligned crop or
        original photo): the parts follow the landmarks, the textures the face's scale and roll."""
        image = np.asarray(image)
        h, w = image.shape[:2]
        out = image.astype(np.float32).copy()
        covered = np.zeros((h, w), bool)
        # template coordinates of every pixel centre under the face's similarity fit (for textures)
        to_template = estimate_similarity(np.asarray(landmarks, np.float64), self.template.landmarks)
        scale = float(np.sqrt(abs(np.linalg.det(to_template[:, :2]))))  # template px per image px
        ys, xs = np.mgrid[0:h, 0:w]
        for index, ((tri, bary), part) in enumerate(zip(self._located, self.parts)):
            poly = self.template.mesh.warp(tri, bary, landmarks)
            m = polygon2mask((h, w), poly[:, ::-1])
            if not m.any():
                continue
            uv = apply_affine(to_template, np.column_stack([xs[m], ys[m]]).astype(np.float64))
            rgb = _paint(part.material, uv, part.polygon, self._rng_for(index))
            alpha = part.material.opacity
            out[m] = alpha * rgb + (1 - alpha) * out[m]
            covered |= m
            if part.material.pattern in ("lens",) and scale > 0:
                _outline(out, m, part.material, max(1, int(round(1.2 / scale))))
        return np.clip(np.rint(out), 0, 255).astype(np.uint8), covered

    def apply_batch(self, images: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One physical occluder on every face of a batch: (B, H, W, 3), (B, 68, 2) -> images, masks (B, H, W)."""
        outs, masks = zip(*(self.apply(img, lm) for img, lm in zip(images, landmarks)))
        return np.stack(outs), np.stack(masks)

    def _rng_for(self, index: int) -> np.random.Generator:
        # texture noise depends only on the occluder's seed and the part: identical on every face
        return np.random.default_rng([self.seed or 0, index, 11])


# ----------------------------------------------------------------------------------- materials
def _noise(uv: np.ndarray, rng: np.random.Generator, cell: float = 2.0) -> np.ndarray:
    """Smooth value noise in [-1, 1] at template coordinates uv (N, 2), from a fixed seeded grid."""
    grid = rng.uniform(-1, 1, size=(64, 64))
    g = uv / cell
    i0 = np.floor(g).astype(int)
    f = g - i0
    f = f * f * (3 - 2 * f)
    i0 %= 64
    i1 = (i0 + 1) % 64
    a = grid[i0[:, 1], i0[:, 0]] * (1 - f[:, 0]) + grid[i0[:, 1], i1[:, 0]] * f[:, 0]
    b = grid[i1[:, 1], i0[:, 0]] * (1 - f[:, 0]) + grid[i1[:, 1], i1[:, 0]] * f[:, 0]
    return a * (1 - f[:, 1]) + b * f[:, 1]


def _paint(mat: Material, uv: np.ndarray, polygon: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colours (N, 3) float of a material at template coordinates uv (N, 2)."""
    base = np.asarray(mat.color, np.float32)[None, :]
    u, v = uv[:, 0], uv[:, 1]
    p = mat.params
    shade = np.ones(len(uv), np.float32)
    second = None
    if mat.pattern == "pleats":  # surgical mask: horizontal folds
        period = p.get("period", 7.0)
        phase = (v - polygon[:, 1].min()) / period
        shade = 1.0 - 0.16 * np.clip(np.sin(2 * np.pi * phase) - 0.3, 0, None)
    elif mat.pattern == "stripes":
        period, angle = p.get("period", 6.0), np.deg2rad(p.get("angle", 0.0))
        t = (u * np.sin(angle) + v * np.cos(angle)) / period
        second = np.floor(t) % 2 == 1
    elif mat.pattern == "checks":
        period = p.get("period", 8.0)
        second = (np.floor(u / period) + np.floor(v / period)) % 2 == 1
    elif mat.pattern == "dots":
        period = p.get("period", 6.0)
        du, dv = (u % period) - period / 2, (v % period) - period / 2
        second = du * du + dv * dv < (period * 0.22) ** 2
    elif mat.pattern == "knit":  # scarf: ribs + rows
        period = p.get("period", 3.0)
        shade = 0.9 + 0.1 * np.cos(2 * np.pi * u / period) * np.cos(np.pi * v / period)
        second = (np.floor(v / p.get("band", 10.0)) % 2 == 1) if p.get("banded") else None
    elif mat.pattern == "lens":  # sunglasses: vertical gradient + one highlight
        top, bottom = polygon[:, 1].min(), polygon[:, 1].max()
        t = np.clip((v - top) / max(bottom - top, 1e-6), 0, 1)
        shade = 1.25 - 0.45 * t
        cx, cy = polygon[:, 0].mean() - 3, top + (bottom - top) * 0.3
        shade = shade + 1.5 * np.exp(-((u - cx) ** 2 + (v - cy) ** 2) / 4.0)
    elif mat.pattern == "skin":  # hand: shading across the palm, darker creases between fingers
        centre = polygon.mean(axis=0)
        d = np.linalg.norm(uv - centre, axis=1) / max(np.ptp(polygon[:, 0]), 1e-6)
        shade = 1.05 - 0.25 * d
    out = base * shade[:, None]
    if second is not None:
        c2 = np.asarray(p.get("color2", (255, 255, 255)), np.float32)[None, :]
        out = np.where(second[:, None], c2 * shade[:, None], out)
    grain = p.get("grain", 6.0)
    return out + grain * _noise(uv, rng, p.get("grain_cell", 1.5))[:, None]


def _outline(out: np.ndarray, mask: np.ndarray, mat: Material, width: int) -> None:
    """Darken a band `width` px wide along the inside of a mask's edge (a frame)."""
    from scipy.ndimage import binary_erosion

    edge = mask & ~binary_erosion(mask, iterations=width)
    out[edge] = np.asarray(mat.params.get("frame", (15, 15, 15)), np.float32)


# ------------------------------------------------------------------------------------ geometry
def _curve(points: np.ndarray, n: int = 8) -> np.ndarray:
    """A smooth path through points (M, 2): Catmull-Rom, n samples per segment."""
    pts = np.vstack([points[:1], points, points[-1:]])
    out = []
    for i in range(1, len(pts) - 2):
        p0, p1, p2, p3 = pts[i - 1], pts[i], pts[i + 1], pts[i + 2]
        for t in np.linspace(0, 1, n, endpoint=False):
            t2, t3 = t * t, t * t * t
            out.append(
                0.5
                * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t3)
            )
    out.append(points[-1])
    return np.asarray(out)


def _ellipse(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, n: int = 28) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pts = np.column_stack([rx * np.cos(t), ry * np.sin(t)])
    a = np.deg2rad(angle)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return pts @ rot.T + [cx, cy]


def _mask_polygon(lm: np.ndarray, rng, cloth: bool) -> np.ndarray:
    """From the nose bridge down around the jaw line: top edge ear -> bridge -> ear, bottom = jaw."""
    bridge_y = lm[28, 1] + (rng.uniform(0.5, 2.5) if not cloth else rng.uniform(1.0, 3.5))
    drop = rng.uniform(2.0, 4.0) if not cloth else rng.uniform(3.5, 6.0)
    left, right = lm[1] + [-1.5, 0], lm[15] + [1.5, 0]
    top = np.array(
        [left, [lm[31, 0] - 10, lm[29, 1] + 1], [lm[27, 0], bridge_y], [lm[35, 0] + 10, lm[29, 1] + 1], right]
    )
    centre = lm[JAW_CENTRE_IDX].mean(axis=0)
    jaw = lm[2:15][::-1].astype(np.float64)
    jaw = jaw + (jaw - centre) * (0.06 if not cloth else 0.1) + [0, drop * 0.5]
    jaw[len(jaw) // 2] += [0, drop]  # a little past the chin
    return np.vstack([_curve(top, 6), jaw])


JAW_CENTRE_IDX = [29, 30, 33, 51, 57]


def _sunglasses(lm: np.ndarray, rng) -> list[np.ndarray]:
    parts = []
    grow = rng.uniform(1.65, 1.95)
    roundness = rng.uniform(0.72, 0.92)
    for eye in (range(36, 42), range(42, 48)):
        pts = lm[list(eye)]
        cx, cy = pts.mean(axis=0)
        rx = (pts[:, 0].max() - pts[:, 0].min()) / 2 * grow
        parts.append(_ellipse(cx, cy + 0.5, rx, rx * roundness))
    y = (lm[39, 1] + lm[42, 1]) / 2 - 1.5
    parts.append(
        np.array(
            [[lm[39, 0] + 1, y - 1.0], [lm[42, 0] - 1, y - 1.0], [lm[42, 0] - 1, y + 1.0], [lm[39, 0] + 1, y + 1.0]]
        )
    )  # bridge
    for outer, ear in ((36, 0), (45, 16)):  # temple arms toward the ears
        a, b = lm[outer] + ([-6, -1] if outer == 36 else [6, -1]), lm[ear] + ([-2, -1] if ear == 0 else [2, -1])
        parts.append(np.array([a + [0, -1], b + [0, -1], b + [0, 1], a + [0, 1]]))
    return parts


def _scarf(lm: np.ndarray, rng, size: float) -> np.ndarray:
    top_y = lm[33, 1] + rng.uniform(1.0, 5.0)  # from just under the nose
    left, right = lm[0, 0] - rng.uniform(3, 8), lm[16, 0] + rng.uniform(3, 8)
    top = np.array(
        [
            [left, lm[2, 1] + 2],
            [lm[48, 0] - 6, top_y + 1],
            [lm[33, 0], top_y],
            [lm[54, 0] + 6, top_y + 1],
            [right, lm[14, 1] + 2],
        ]
    )
    bottom = np.array([[right, size - 1], [left, size - 1]])
    return np.vstack([_curve(top, 6), bottom])


HAND_TARGETS = ("mouth", "left_cheek", "right_cheek", "eyes", "chin", "nose")


def _hand(lm: np.ndarray, rng, template: Template) -> list[np.ndarray]:
    """A palm and four fingers (and a thumb), about half a face wide, over one seeded face part."""
    target = HAND_TARGETS[int(rng.integers(len(HAND_TARGETS)))]
    cx, cy = template.regions[target].center
    cx += rng.uniform(-3, 3)
    cy += rng.uniform(-3, 3)
    face_w = lm[16, 0] - lm[0, 0]
    palm_w = face_w * rng.uniform(0.42, 0.52)
    angle = rng.uniform(-35, 35) + (90 if target in ("left_cheek", "right_cheek") and rng.random() < 0.5 else 0)
    a = np.deg2rad(angle)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])

    def place(poly):
        return poly @ rot.T + [cx, cy]

    parts = [place(_ellipse(0, 0, palm_w / 2, palm_w * 0.55))]
    finger_w = palm_w / 4.3
    for k in range(4):
        x = (k - 1.5) * finger_w * 1.05
        length = palm_w * (0.95, 1.08, 1.0, 0.8)[k]
        top = -palm_w * 0.35
        parts.append(
            place(
                np.array(
                    [
                        [x - finger_w / 2, top],
                        [x + finger_w / 2, top],
                        [x + finger_w / 2.2, top - length],
                        [x, top - length - finger_w / 2],
                        [x - finger_w / 2.2, top - length],
                    ]
                )
            )
        )
    side = -1 if rng.random() < 0.5 else 1
    parts.append(
        place(
            np.array(
                [
                    [side * palm_w * 0.35, 0],
                    [side * palm_w * 0.5, -palm_w * 0.1],
                    [side * palm_w * 0.95, -palm_w * 0.45],
                    [side * palm_w * 0.82, -palm_w * 0.58],
                    [side * palm_w * 0.3, -palm_w * 0.3],
                ]
            )
        )
    )
    return parts


SURGICAL_COLORS = ((168, 205, 228), (236, 238, 240), (176, 214, 196), (120, 160, 215))
CLOTH_COLORS = ((25, 25, 30), (40, 50, 90), (120, 120, 125), (160, 40, 45), (70, 100, 60), (200, 185, 160))
SCARF_COLORS = ((150, 30, 40), (40, 60, 110), (90, 90, 90), (200, 160, 60), (60, 90, 70), (220, 220, 215))
SKIN_TONES = ((236, 198, 170), (224, 172, 138), (198, 142, 104), (160, 108, 74), (112, 74, 52), (84, 56, 40))


def draw_occluder(kind: str, rng: np.random.Generator | int, template: Template | None = None) -> Occluder:
    """One seeded occluder of a kind (OCCLUDER_KINDS) in the template frame."""
    template = template or default_template()
    seed = None
    if not isinstance(rng, np.random.Generator):
        seed = int(rng)
        rng = np.random.default_rng([seed, sum(map(ord, kind))])
    lm = template.landmarks
    pick = lambda xs: xs[int(rng.integers(len(xs)))]  # noqa: E731
    if kind == "surgical_mask":
        mat = Material(pick(SURGICAL_COLORS), "pleats", {"period": rng.uniform(6, 8.5), "grain": 4.0})
        parts = [OccluderPart(_mask_polygon(lm, rng, cloth=False), mat)]
    elif kind == "cloth_mask":
        color = pick(CLOTH_COLORS)
        pattern = pick(("plain", "plain", "stripes", "checks", "dots"))
        second = tuple(float(np.clip(c + rng.choice([-1, 1]) * rng.uniform(50, 110), 0, 255)) for c in color)
        mat = Material(
            color, pattern, {"period": rng.uniform(4, 9), "angle": rng.uniform(-40, 40), "color2": second, "grain": 7.0}
        )
        parts = [OccluderPart(_mask_polygon(lm, rng, cloth=True), mat)]
    elif kind == "sunglasses":
        tint = pick(((18, 18, 22), (40, 30, 22), (25, 35, 30), (45, 45, 55)))
        lens = Material(
            tint, "lens", {"frame": tuple(float(c) * 0.5 for c in tint), "grain": 2.0}, rng.uniform(0.9, 0.97)
        )
        frame = Material((15, 15, 18), "plain", {"grain": 2.0})
        polys = _sunglasses(lm, rng)
        parts = [OccluderPart(p, lens) for p in polys[:2]] + [OccluderPart(p, frame) for p in polys[2:]]
    elif kind == "scarf":
        color = pick(SCARF_COLORS)
        mat = Material(
            color,
            "knit",
            {
                "period": rng.uniform(2.5, 4),
                "banded": bool(rng.random() < 0.5),
                "band": rng.uniform(6, 12),
                "grain": 8.0,
                "color2": tuple(float(np.clip(c * 0.6, 0, 255)) for c in color),
            },
        )
        parts = [OccluderPart(_scarf(lm, rng, float(template.size)), mat)]
    elif kind == "hand":
        mat = Material(pick(SKIN_TONES), "skin", {"grain": 5.0})
        parts = [OccluderPart(p, mat) for p in _hand(lm, rng, template)]
    else:
        raise InterpfaceError(f"unknown occluder {kind!r}; choose from rectangle, {', '.join(OCCLUDER_KINDS)}")
    return Occluder(kind, parts, template, seed)


def occluder_for_condition(condition: str, seed: int, template: Template | None = None) -> Occluder:
    """The seeded occluder of an evaluation condition (mask | sunglasses | scarf | hand)."""
    if condition not in CONDITION_KINDS:
        raise InterpfaceError(f"unknown occluder condition {condition!r}; choose from {', '.join(CONDITION_KINDS)}")
    kinds = CONDITION_KINDS[condition]
    kind = kinds[seed % len(kinds)]
    return draw_occluder(kind, seed, template)
