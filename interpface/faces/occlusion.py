"""Landmark-warped synthetic occlusion (paper §3.4, Fig. 3).

A "physical" mask is a rectangle in the template frame (default 32x12, optionally rotated). Each
corner is written in barycentric coordinates of its enclosing template triangle, re-placed in every
face through that face's own landmarks, and the resulting quadrilateral is filled (black by default).

- ``occlude_batch``: one physical mask for a whole batch (how the paper trains, and what FAD's tau
  is computed over).
- ``occlude_seeded``: one image, the mask drawn from a seed (evaluation: each test image occluded
  once at a reproducible random position).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.draw import polygon2mask

from interpface.errors import InterpfaceError
from interpface.faces.template import Template, default_template

DEFAULT_OCCLUDER_SIZE = (32.0, 12.0)  # (width, height) in template pixels, the paper's


@dataclass(frozen=True)
class OcclusionRect:
    """A rectangle in the template frame: centre, width, height (pixels) and angle (degrees,
    counter-clockwise in image coordinates)."""

    cx: float
    cy: float
    width: float = DEFAULT_OCCLUDER_SIZE[0]
    height: float = DEFAULT_OCCLUDER_SIZE[1]
    angle: float = 0.0

    def corners(self) -> np.ndarray:
        """(4, 2) corners in order top-left, top-right, bottom-right, bottom-left."""
        hw, hh = self.width / 2, self.height / 2
        local = np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]], dtype=np.float64)
        a = np.deg2rad(self.angle)
        # y points down in images, so a counter-clockwise turn on screen is -angle in maths terms.
        rot = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
        return local @ rot.T + np.array([self.cx, self.cy])

    def to_dict(self) -> dict:
        return {"cx": self.cx, "cy": self.cy, "width": self.width, "height": self.height, "angle": self.angle}


def random_rect(
    rng: np.random.Generator, template: Template | None = None, size: tuple[float, float] = DEFAULT_OCCLUDER_SIZE
) -> OcclusionRect:
    """A rectangle whose centre is uniform over the template's face box and that lies entirely
    inside the frame (so it stays on the face and inside the crop)."""
    template = template or default_template()
    w, h = size
    x0, y0, x1, y1 = template.face_box
    edge = template.size - 1
    lo_x, hi_x = max(x0, w / 2), min(x1, edge - w / 2)
    lo_y, hi_y = max(y0, h / 2), min(y1, edge - h / 2)
    if lo_x > hi_x or lo_y > hi_y:
        raise InterpfaceError(f"an occluder of {w}x{h} does not fit in the {template.size}px template")
    return OcclusionRect(float(rng.uniform(lo_x, hi_x)), float(rng.uniform(lo_y, hi_y)), w, h)


def region_rect(
    region: str, template: Template | None = None, size: tuple[float, float] | str | None = None
) -> OcclusionRect:
    """A rectangle centred on a named region. size=None (default) covers the region's box but is
    never smaller than the paper's 32x12; "fit" takes the region's box exactly; or (width, height)."""
    template = template or default_template()
    if region not in template.regions:
        raise InterpfaceError(f"unknown region {region!r}; choose from {', '.join(template.regions)}")
    reg = template.regions[region]
    if size is None:
        w, h = max(reg.size[0], DEFAULT_OCCLUDER_SIZE[0]), max(reg.size[1], DEFAULT_OCCLUDER_SIZE[1])
    elif size == "fit":
        w, h = reg.size
    else:
        w, h = size
    return OcclusionRect(reg.center[0], reg.center[1], float(w), float(h))


@dataclass
class PhysicalMask:
    """A rectangle located in the template mesh: corners' triangles and barycentric coordinates."""

    rect: OcclusionRect
    triangles: np.ndarray  # (4,) triangle index of each corner
    barycentric: np.ndarray  # (4, 3)
    template: Template

    @staticmethod
    def from_rect(rect: OcclusionRect, template: Template | None = None) -> PhysicalMask:
        template = template or default_template()
        corners = np.clip(rect.corners(), 0.0, template.size - 1.0)  # keep inside the mesh
        tri, bary = template.mesh.locate(corners)
        return PhysicalMask(rect, tri, bary, template)

    def quads(self, landmarks: np.ndarray) -> np.ndarray:
        """The mask's quadrilateral in each face: landmarks (..., 68, 2) -> corners (..., 4, 2)."""
        return self.template.mesh.warp(self.triangles, self.barycentric, landmarks)


def quad_masks(quads: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Rasterise quadrilaterals (..., 4, 2) (x, y) into boolean masks (..., H, W): a pixel is in
    when its centre is inside. Parts outside the image are cut off."""
    h, w = (size, size) if isinstance(size, int) else size
    quads = np.asarray(quads, dtype=np.float64)
    flat = quads.reshape(-1, 4, 2)
    out = np.zeros((flat.shape[0], h, w), dtype=bool)
    for i, q in enumerate(flat):
        out[i] = polygon2mask((h, w), q[:, ::-1])  # skimage wants (row, col)
    return out.reshape(quads.shape[:-2] + (h, w))


def apply_masks(images: np.ndarray, masks: np.ndarray, fill=0) -> np.ndarray:
    """images (..., H, W, C) and masks (..., H, W) -> a copy with the masked pixels set to fill."""
    out = np.array(images, copy=True)
    out[np.asarray(masks, dtype=bool)] = fill
    return out


def occlude_batch(
    images: np.ndarray,
    landmarks: np.ndarray,
    rng: np.random.Generator,
    template: Template | None = None,
    size=DEFAULT_OCCLUDER_SIZE,
    fill=0,
    rect: OcclusionRect | None = None,
):
    """One physical mask for a whole batch.

    images: (B, H, W, C) aligned crops; landmarks: (B, 68, 2) in the same pixels.
    Returns (occluded images (B, H, W, C), masks (B, H, W) bool, quads (B, 4, 2), rect).
    """
    rect = rect or random_rect(rng, template, size)
    mask = PhysicalMask.from_rect(rect, template)
    quads = mask.quads(landmarks)
    masks = quad_masks(quads, images.shape[1:3])
    return apply_masks(images, masks, fill), masks, quads, rect


def occlude_seeded(
    image: np.ndarray,
    landmarks: np.ndarray,
    seed: int,
    template: Template | None = None,
    size=DEFAULT_OCCLUDER_SIZE,
    fill=0,
):
    """One image (H, W, C) occluded at the position drawn from `seed`: the same seed always gives
    the same physical mask. Returns (occluded image, mask (H, W), quad (4, 2), rect)."""
    rect = random_rect(np.random.default_rng(seed), template, size)
    occluded, masks, quads, rect = occlude_batch(
        image[None], np.asarray(landmarks)[None], None, template, size, fill, rect=rect
    )
    return occluded[0], masks[0], quads[0], rect


def occlude_rect(
    image: np.ndarray, landmarks: np.ndarray, rect: OcclusionRect, template: Template | None = None, fill=0
):
    """One image occluded by a given template-frame rectangle (dashboard, region analyses)."""
    occluded, masks, quads, _ = occlude_batch(
        image[None], np.asarray(landmarks)[None], None, template, fill=fill, rect=rect
    )
    return occluded[0], masks[0], quads[0]


def paint_quads(crops: np.ndarray, landmarks: np.ndarray, quads: list) -> np.ndarray:
    """Paint each face's occluder in place: crops (n, 110, 110, 3) uint8, landmarks (n, 68, 2), quads
    (n,) of None, a (4, 2) crop-pixel quadrilateral (black), or an Occluder (anything with
    ``apply(crop, landmarks)``, placed through the face's landmarks). Returns crops."""
    occluded = [i for i, q in enumerate(quads) if q is not None and not hasattr(q, "apply")]
    if occluded:
        masks = quad_masks(np.stack([quads[i] for i in occluded]), crops.shape[1:3])
        crops[occluded] = apply_masks(crops[occluded], masks, 0)
    for i, q in enumerate(quads):
        if hasattr(q, "apply"):  # a realistic occluder, placed through this face's landmarks
            crops[i] = q.apply(crops[i], landmarks[i])[0]
    return crops
