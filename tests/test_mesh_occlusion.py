import numpy as np
import pytest

from interpface.faces.align import apply_affine
from interpface.faces.occlusion import (
    OcclusionRect,
    PhysicalMask,
    occlude_batch,
    occlude_seeded,
    quad_masks,
    random_rect,
    region_rect,
)

REGIONS = ["left_eye", "right_eye", "eyes", "nose", "mouth", "forehead", "left_cheek", "right_cheek", "chin"]


def test_template_shape_and_142_triangles(template):
    assert template.landmarks.shape == (68, 2)
    assert template.mesh.vertices.shape == (76, 2)
    assert len(template.mesh.triangles) == 142
    # Every template landmark is inside the 110x110 frame.
    assert template.landmarks.min() > 0 and template.landmarks.max() < 109


def test_named_regions(template):
    assert set(REGIONS) <= set(template.regions)
    lm = template.landmarks
    assert template.regions["nose"].contains(lm[30])  # nose tip
    assert template.regions["mouth"].contains(lm[62])
    assert template.regions["left_eye"].contains(lm[36:42]).all()
    assert template.regions["right_eye"].contains(lm[42:48]).all()
    assert template.regions["chin"].contains(lm[8])
    assert template.regions["forehead"].center[1] < lm[17:27, 1].min()


def test_barycentric_identity_round_trip(template, rng):
    for _ in range(20):
        rect = random_rect(rng, template)
        mask = PhysicalMask.from_rect(rect, template)
        quad = mask.quads(template.landmarks)
        np.testing.assert_allclose(quad, rect.corners(), atol=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_corners_follow_a_similarity_transform(template, seed):
    rng = np.random.default_rng(seed)
    a, s = rng.uniform(-np.pi, np.pi), rng.uniform(0.5, 2.0)
    m = np.array(
        [[s * np.cos(a), -s * np.sin(a), rng.uniform(-50, 50)], [s * np.sin(a), s * np.cos(a), rng.uniform(-50, 50)]]
    )
    rect = random_rect(rng, template)
    mask = PhysicalMask.from_rect(rect, template)
    moved = mask.quads(apply_affine(m, template.landmarks))
    np.testing.assert_allclose(moved, apply_affine(m, rect.corners()), atol=1e-6)


def test_mask_stays_inside_crop(template, rng):
    for _ in range(200):
        rect = random_rect(rng, template)
        assert (rect.corners() >= 0).all() and (rect.corners() <= template.size - 1).all()
    # On real aligned faces the warped quad is rasterised inside the crop and has about the area.
    lm = template.landmarks[None] + rng.normal(0, 1.5, (8, 68, 2))
    images = np.full((8, 110, 110, 3), 200, np.uint8)
    occluded, masks, quads, rect = occlude_batch(images, lm, rng, template)
    assert masks.shape == (8, 110, 110)
    assert np.all((masks.sum(axis=(1, 2)) > 0.6 * 32 * 12) & (masks.sum(axis=(1, 2)) < 1.5 * 32 * 12))
    assert (occluded[masks] == 0).all() and (occluded[~masks] == 200).all()


def test_one_physical_mask_per_batch(template, rng):
    lm = np.stack([template.landmarks] * 4)
    _, masks, quads, _ = occlude_batch(np.zeros((4, 110, 110, 3), np.uint8), lm, rng, template)
    assert all(np.array_equal(masks[0], m) for m in masks)


def test_seeded_occlusion_is_reproducible(template):
    img = np.full((110, 110, 3), 128, np.uint8)
    a = occlude_seeded(img, template.landmarks, seed=7, template=template)
    b = occlude_seeded(img, template.landmarks, seed=7, template=template)
    c = occlude_seeded(img, template.landmarks, seed=8, template=template)
    assert np.array_equal(a[1], b[1]) and not np.array_equal(a[1], c[1])


def test_region_rect_and_fill(template):
    rect = region_rect("mouth", template)
    assert template.regions["mouth"].contains(np.array([rect.cx, rect.cy]))
    fit = region_rect("eyes", template, size="fit")
    assert fit.width > 40
    img = np.full((1, 110, 110, 3), 10, np.uint8)
    out, masks, _, _ = occlude_batch(img, template.landmarks[None], None, template, rect=rect, fill=255)
    assert (out[masks] == 255).all()
    with pytest.raises(Exception, match="unknown region"):
        region_rect("ear", template)


def test_quad_mask_rasterisation_exact():
    quad = np.array([[2, 3], [5, 3], [5, 6], [2, 6]], float)  # x 2..5, y 3..6 inclusive of centres
    m = quad_masks(quad, (10, 10))
    expect = np.zeros((10, 10), bool)
    expect[3:7, 2:6] = True
    assert np.array_equal(m, expect)


def test_rotated_rect_corners():
    r = OcclusionRect(50, 50, 20, 10, angle=90)
    c = r.corners()
    assert np.ptp(c[:, 0]) == pytest.approx(10) and np.ptp(c[:, 1]) == pytest.approx(20)


def test_build_template_recovers_mean_shape(template, rng):
    from interpface.faces.template import build_template

    shapes = []
    for _ in range(30):
        a, s = rng.uniform(-0.4, 0.4), rng.uniform(0.5, 3)
        m = np.array(
            [[s * np.cos(a), -s * np.sin(a), rng.uniform(0, 200)], [s * np.sin(a), s * np.cos(a), rng.uniform(0, 200)]]
        )
        shapes.append(apply_affine(m, template.landmarks))
    rebuilt = build_template(np.array(shapes))
    np.testing.assert_allclose(rebuilt.landmarks, template.landmarks, atol=0.05)


def test_to_template_inverts_warp(template, rng):
    lm = template.landmarks + rng.normal(0, 1.0, (68, 2))
    pts = rng.uniform(5, 104, (50, 2))
    tri, bary = template.mesh.locate(pts)
    in_face = template.mesh.warp(tri, bary, lm)
    np.testing.assert_allclose(template.mesh.to_template(in_face, lm), pts, atol=1e-6)
