"""Safe image loading: every image the product touches goes through `load_image`.

Decoding is done by Pillow. The size limit is checked from the header *before* decoding, so a PNG
that claims 100k x 100k pixels is refused without allocating gigabytes.

Handled inputs (documented behaviour):
- grayscale, palette, CMYK, 16-bit: converted to 8-bit RGB (16-bit is scaled by 1/257, not clipped);
- alpha channel: composited over white (transparent regions would otherwise turn black and look
  like an occluder);
- EXIF orientation: applied, so the returned array is upright;
- animated GIF/WebP/PNG: the first frame is used.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from interpface.errors import ImageDecodeError, ImageNotFoundError, ImageTooLargeError

#: Largest image accepted, in pixels (width * height). 40 MP is a 7300x5500 photo; anything larger
#: is almost certainly an attack or a mistake for a face tool.
MAX_PIXELS = 40_000_000
#: Largest file accepted, in bytes.
MAX_FILE_BYTES = 50 * 1024 * 1024


def load_image(source: str | os.PathLike | bytes, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file (or its bytes) as an upright RGB uint8 array of shape (H, W, 3).

    Raises ImageNotFoundError, ImageDecodeError (empty, truncated, not an image) or
    ImageTooLargeError (refused from the header, before decoding).
    """
    name, data = _read_bytes(source)
    try:
        with warnings.catch_warnings():
            # Pillow warns on big images before it raises; we do our own check below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > max_pixels:
                raise ImageTooLargeError(
                    f"{name}: {width}x{height} pixels is over the limit of {max_pixels:,}; refused before decoding"
                )
            if width < 1 or height < 1:
                raise ImageDecodeError(f"{name}: image has no pixels")
            img.seek(0)  # animated formats: first frame
            img.load()  # raises on truncated data (Pillow's LOAD_TRUNCATED_IMAGES is False)
            img = ImageOps.exif_transpose(img)
            return _to_rgb8(img)
    except ImageTooLargeError:
        raise
    except Image.DecompressionBombError:
        # Pillow's own header check fired first (over 2x its limit): same outcome, no decoding.
        raise ImageTooLargeError(
            f"{name}: the header announces over {max_pixels:,} pixels; refused before decoding"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = "not an image or unsupported format" if isinstance(exc, UnidentifiedImageError) else str(exc)
        raise ImageDecodeError(f"{name}: cannot decode image ({reason})") from None


def _read_bytes(source) -> tuple[str, bytes]:
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        name = "<uploaded image>"
    else:
        path = Path(source)
        name = str(path)
        if not path.is_file():
            raise ImageNotFoundError(f"{name}: no such file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImageTooLargeError(
                f"{name}: file is {size / 2**20:.0f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit"
            )
        data = path.read_bytes()
    if len(data) == 0:
        raise ImageDecodeError(f"{name}: file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise ImageTooLargeError(f"{name}: {len(data) / 2**20:.0f} MiB is over the {MAX_FILE_BYTES // 2**20} MiB limit")
    return name, data


def _to_rgb8(img: Image.Image) -> np.ndarray:
    """Any Pillow mode -> (H, W, 3) uint8 RGB."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img).astype(np.float64)
        # 16-bit data: scale full range to 8 bits instead of clipping at 255.
        top = 65535.0 if arr.max() > 255 else 255.0
        arr8 = np.clip(np.round(arr * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(arr8[..., None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr8 = np.zeros(arr.shape, np.uint8) if hi <= lo else np.round((arr - lo) / (hi - lo) * 255).astype(np.uint8)
        return np.repeat(arr8[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    if mode == "I;16" or img.mode != "RGB":
        img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))


def save_image(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 RGB array; the format follows the suffix. Atomic (temp + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ImageDecodeError(f"{path}: unknown image format suffix {path.suffix!r}")
    Image.fromarray(np.asarray(rgb, dtype=np.uint8)).save(tmp, format=fmt)
    os.replace(tmp, path)
