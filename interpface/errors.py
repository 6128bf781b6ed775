"""Typed errors. Every failure a user can cause maps to one of these, so the CLI can print one line
and the dashboard one message instead of a traceback."""


class InterpfaceError(Exception):
    """Base class: anything the user can fix (bad input, missing file, wrong checkpoint)."""


class ImageError(InterpfaceError):
    """An image could not be used."""


class ImageNotFoundError(ImageError, FileNotFoundError):
    pass


class ImageDecodeError(ImageError):
    """Empty, truncated or not an image at all."""


class ImageTooLargeError(ImageError):
    """Refused before decoding: the header announces more pixels than the limit."""


class FaceError(InterpfaceError):
    """No usable face in an image."""


class NoFaceError(FaceError):
    pass


class FaceTooSmallError(FaceError):
    pass


class LandmarkModelMissingError(InterpfaceError):
    """The dlib 68-point shape predictor file is not installed."""


class DatasetError(InterpfaceError):
    """Dataset root or protocol files missing or malformed."""


class NoIdentitiesError(DatasetError):
    """The analysis needs to know who is who, and the dataset has no identities (a flat folder)."""


class NoPairsError(DatasetError):
    """The analysis needs verification pairs, and the dataset has none (no identities, no pairs file)."""


class CacheError(InterpfaceError):
    """The prepared-data cache is missing or does not match what was asked."""


class CheckpointError(InterpfaceError):
    """A checkpoint is missing, malformed, tampered with, or not a safetensors + JSON checkpoint."""


class ConfigError(InterpfaceError):
    """A configuration file or override is invalid."""
