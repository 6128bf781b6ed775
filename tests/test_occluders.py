"""Realistic occluders: seeded, placed through the landmarks, inside their face region, in any frame."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from interpface.errors import InterpfaceError
from interpface.faces.occluders import COVERS, LEAVES, OCCLUDER_KINDS, draw_occluder, occluder_for_condition
from interpface.faces.template import LEFT_EYE, MOUTH, RIGHT_EYE

LANDMARKS_OF = {"mouth": MOUTH, "left_eye": LEFT_EYE, "right_eye": RIGHT_EYE, "chin": [7, 8, 9], "forehead": None}


@pytest.fixture(scope="module")
def aligned(faces):
    from interpface.faces.pipeline import FacePipeline

    pipe = FacePipeline()
    return [pipe.prepare(faces.path(r.relpath)) for r in faces.records[::4]]


def _covered(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    p = np.clip(np.rint(points).astype(int), 0, mask.shape[0] - 1)
    return mask[p[:, 1], p[:, 0]]


@pytest.mark.parametrize("kind", OCCLUDER_KINDS)
def test_seeded_occluder_is_identical_across_runs(kind, aligned):
    face = aligned[0]
    a, ma = draw_occluder(kind, 7).apply(face.crop, face.landmarks)
    b, mb = draw_occluder(kind, 7).apply(face.crop, face.landmarks)
    c, _ = draw_occluder(kind, 8).apply(face.crop, face.landmarks)
    assert np.array_equal(a, b) and np.array_equal(ma, mb)
    assert not np.array_equal(a, c)  # another seed, another occluder
    assert ma.sum() > 150 and a.dtype == np.uint8 and a.shape == face.crop.shape
    assert np.array_equal(a[~ma], face.crop[~ma])  # nothing outside the occluder changes


@pytest.mark.parametrize("kind", [k for k in OCCLUDER_KINDS if k in COVERS])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_occluder_stays_in_its_landmark_region(kind, seed, aligned, template):
    for face in aligned:
        mask = draw_occluder(kind, seed).apply(face.crop, face.landmarks)[1]
        for region in COVERS[kind]:
            idx = LANDMARKS_OF[region]
            assert _covered(mask, face.landmarks[idx]).mean() >= 0.9, (kind, region)
        for region in LEAVES[kind]:
            if region == "forehead":  # no pixel above the brows
                brow_top = face.landmarks[17:27, 1].min()
                assert not mask[: int(brow_top) - 1].any(), kind
            else:
                assert not _covered(mask, face.landmarks[LANDMARKS_OF[region]]).any(), (kind, region)


def test_hand_covers_part_of_the_face(aligned, template):
    for seed in range(6):
        face = aligned[seed % len(aligned)]
        mask = draw_occluder("hand", seed).apply(face.crop, face.landmarks)[1]
        ys, xs = np.nonzero(mask)
        x0, y0, x1, y1 = template.face_box
        centre = np.array([xs.mean(), ys.mean()])
        assert 300 < mask.sum() < 0.5 * mask.size
        assert x0 - 10 <= centre[0] <= x1 + 10 and y0 - 10 <= centre[1] <= y1 + 10


def test_occluder_follows_the_face_in_the_original_photo(faces, template):
    """Painted on the original photo with its raw landmarks, then aligned: the same pixels as painted
    on the aligned crop (IoU > 0.8)."""
    from interpface.faces.pipeline import FacePipeline

    face = FacePipeline(template).prepare(faces.path("Grace_Hopper/Grace_Hopper_0003.jpg"))
    for kind in ("surgical_mask", "sunglasses"):
        occ = draw_occluder(kind, 3)
        crop_mask = occ.apply(face.crop, face.landmarks)[1]
        _, orig_mask = occ.apply(face.image, face.detection.landmarks)
        realigned = cv2.warpAffine(orig_mask.astype(np.uint8), face.matrix, (110, 110), flags=cv2.INTER_NEAREST) > 0
        iou = (realigned & crop_mask).sum() / (realigned | crop_mask).sum()
        assert iou > 0.8, (kind, iou)


def test_conditions_and_unknown_kinds():
    kinds = {occluder_for_condition("mask", s).kind for s in range(6)}
    assert kinds == {"surgical_mask", "cloth_mask"}
    assert occluder_for_condition("scarf", 3).kind == "scarf"
    with pytest.raises(InterpfaceError, match="unknown occluder"):
        draw_occluder("helmet", 0)
    with pytest.raises(InterpfaceError, match="unknown occluder condition"):
        occluder_for_condition("helmet", 0)


def test_occlude_cli_with_a_realistic_occluder(faces, tmp_path, capsys):
    from interpface.cli.main import main

    out, js = tmp_path / "o.png", tmp_path / "o.json"
    code = main(
        [
            "occlude",
            str(faces.path("Eileen_Collins/Eileen_Collins_0002.jpg")),
            "--occluder",
            "scarf",
            "--seed",
            "2",
            "--out",
            str(out),
            "--json",
            str(js),
        ]
    )
    assert code == 0 and "scarf" in capsys.readouterr().out and out.is_file()
    info = json.loads(js.read_text())
    assert info["occluder"]["kind"] == "scarf" and info["occluded_pixels"] > 500 and len(info["polygons_crop"]) == 1
