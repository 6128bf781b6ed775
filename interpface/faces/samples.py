"""Sample faces that ship inside installed packages, for the embedded default (no dataset needed):
scikit-image's astronaut (Eileen Collins) and matplotlib's Grace Hopper portrait."""

from __future__ import annotations

import numpy as np

from interpface.faces.images import load_image

SAMPLE_NAMES = ("astronaut", "grace_hopper")


def sample_face(name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a bundled sample image."""
    if name == "astronaut":
        from skimage import data

        return np.ascontiguousarray(data.astronaut())
    if name == "grace_hopper":
        from matplotlib import cbook

        return load_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    raise KeyError(f"unknown sample {name!r}; choose from {', '.join(SAMPLE_NAMES)}")


def sample_faces() -> dict[str, np.ndarray]:
    return {name: sample_face(name) for name in SAMPLE_NAMES}
