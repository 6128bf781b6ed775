"""Shared fixtures.

Two kinds of face data:
- `faces`: the small face set generated at test time from the faces installed packages ship
  (tests/faceset.py), in the LFW layout with its protocol files. Always there: every test that does
  not check a fact of the real LFW uses it.
- `lfw`: the real LFW (INTERPFACE_DATA, or ../shared/data in the development and CI environment).
  Tests of its own facts use it; without it they are skipped with the reason below.
"""

from __future__ import annotations

import numpy as np
import pytest

from interpface.errors import DatasetError
from interpface.faces.datasets import load_lfw
from interpface.faces.images import load_image

NEEDS_LFW = "needs the LFW dataset (INTERPFACE_DATA)"


@pytest.fixture(scope="session")
def lfw():
    """The real LFW; the test is skipped when no dataset is configured."""
    try:
        return load_lfw()
    except DatasetError:
        pytest.skip(NEEDS_LFW)


@pytest.fixture(scope="session")
def faces_root(tmp_path_factory):
    """Data root of the generated face set (root/lfw/...)."""
    from tests.faceset import build_faceset

    return build_faceset(tmp_path_factory.mktemp("faceset"))


@pytest.fixture(scope="session")
def faces(faces_root):
    """The generated face set as a FaceDataset (LFW layout, protocol files included)."""
    return load_lfw(faces_root)


@pytest.fixture(scope="session")
def detector():
    from interpface.faces.landmarks import LandmarkDetector

    return LandmarkDetector()


@pytest.fixture(scope="session")
def template():
    from interpface.faces.template import default_template

    return default_template()


@pytest.fixture(scope="session")
def face_rgb(faces):
    """One face of the face set, (160, 160, 3) uint8."""
    return load_image(faces.path("Eileen_Collins/Eileen_Collins_0001.jpg"))


@pytest.fixture(scope="session")
def face_rgb2(faces):
    """A face of another person, (160, 160, 3) uint8."""
    return load_image(faces.path("Grace_Hopper/Grace_Hopper_0001.jpg"))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
