"""Shared fixtures. The LFW copy in ../shared/data is part of the development and CI environment."""

from __future__ import annotations

import numpy as np
import pytest

from interpface.datasets import load_lfw
from interpface.images import load_image


@pytest.fixture(scope="session")
def lfw():
    return load_lfw()


@pytest.fixture(scope="session")
def detector():
    from interpface.landmarks import LandmarkDetector

    return LandmarkDetector()


@pytest.fixture(scope="session")
def template():
    from interpface.template import default_template

    return default_template()


@pytest.fixture(scope="session")
def face_rgb(lfw):
    """One real LFW face, (160, 160, 3) uint8."""
    return load_image(lfw.path("Aaron_Eckhart/Aaron_Eckhart_0001.jpg"))


@pytest.fixture(scope="session")
def face_rgb2(lfw):
    return load_image(lfw.path("Colin_Powell/Colin_Powell_0001.jpg"))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
