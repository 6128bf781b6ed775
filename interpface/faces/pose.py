"""Head pose (yaw, pitch, roll) from dlib's 68 landmarks: cv2.solvePnP against a generic 3-D face.

The generic face is the six-point model of S. Mallick's "Head Pose Estimation using OpenCV and Dlib"
(LearnOpenCV, 2016), the set most head-pose code built on dlib's 68 points uses: nose tip (point 30),
chin (8), the outer eye corners (36, 45) and the mouth corners (48, 54), in arbitrary units. Its axes
are written here in the camera's convention (x to the image's right, y down, z away from the camera),
so a face looking straight into the camera has the identity rotation.

The camera is a pinhole without distortion whose principal point is the centre of the 68 points and
whose focal length is ``FOCAL_PER_FACE`` x the face's size (the geometric mean of the landmark box's
sides; a portrait's face spans about 40% of a focal length). Only the rotation is read, and under
such a weak perspective it barely depends on the focal length.

Angles, in degrees, for ``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)`` (the model -> camera rotation):

- yaw > 0: the face turns toward the image's left (the person's right);
- pitch > 0: the face looks down;
- roll > 0: the face is tilted clockwise in the image.

Pose is a property of the original picture: pass landmarks in original-image pixels (the prepared
cache's ``raw_landmarks``), not those of the aligned crop, whose alignment removed the roll.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MODEL_POINTS", "MODEL_INDICES", "FOCAL_PER_FACE", "head_pose", "euler_from_rotation", "rotation"]

#: the 68-point indices of the generic face's points
MODEL_INDICES = np.array([30, 8, 36, 45, 48, 54])
#: (6, 3) generic 3-D face (LearnOpenCV's model; y and z negated into the camera's axes)
MODEL_POINTS = np.array(
    [
        [0.0, 0.0, 0.0],  # nose tip
        [0.0, 330.0, 65.0],  # chin
        [-225.0, -170.0, 135.0],  # outer corner of the eye on the image's left (point 36)
        [225.0, -170.0, 135.0],  # outer corner of the eye on the image's right (point 45)
        [-150.0, 150.0, 125.0],  # mouth corner on the image's left (48)
        [150.0, 150.0, 125.0],  # mouth corner on the image's right (54)
    ]
)
FOCAL_PER_FACE = 2.5


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """(3, 3) rotation Rz(roll) @ Ry(yaw) @ Rx(pitch), angles in degrees (the inverse of euler_from_rotation)."""
    y, p, r = np.deg2rad([yaw, pitch, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def euler_from_rotation(r: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a rotation R = Rz(roll) @ Ry(yaw) @ Rx(pitch)."""
    yaw = np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))
    pitch = np.arctan2(r[2, 1], r[2, 2])
    roll = np.arctan2(r[1, 0], r[0, 0])
    return float(np.rad2deg(yaw)), float(np.rad2deg(pitch)), float(np.rad2deg(roll))


def head_pose(landmarks: np.ndarray, focal: float | None = None, centre=None) -> np.ndarray:
    """Head pose of faces from their 68 landmarks in original-image pixels.

    landmarks: (68, 2) or (N, 68, 2). focal, centre: the camera's focal length (pixels) and principal
    point (2,) when known (default: FOCAL_PER_FACE x the face's size, the centre of its points).
    Returns (3,) or (N, 3) float64: yaw, pitch, roll in degrees (NaN for a face whose points are not
    finite or where solvePnP fails)."""
    import cv2

    lm = np.asarray(landmarks, np.float64)
    single = lm.ndim == 2
    lm = lm[None] if single else lm
    out = np.full((len(lm), 3), np.nan)
    for i, pts in enumerate(lm):
        if not np.all(np.isfinite(pts)):
            continue
        lo, hi = pts.min(0), pts.max(0)
        size = float(np.sqrt(max((hi - lo).prod(), 1e-6)))
        c = (lo + hi) / 2.0 if centre is None else np.asarray(centre, np.float64)
        f = FOCAL_PER_FACE * size if focal is None else float(focal)
        camera = np.array([[f, 0, c[0]], [0, f, c[1]], [0, 0, 1.0]])
        image = np.ascontiguousarray(pts[MODEL_INDICES])
        ok, rvec, _ = cv2.solvePnP(MODEL_POINTS, image, camera, None, flags=cv2.SOLVEPNP_SQPNP)
        if ok:
            out[i] = euler_from_rotation(cv2.Rodrigues(rvec)[0])
    return out[0] if single else out
