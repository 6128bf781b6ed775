"""Bad and unusual image inputs, generated here."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from interpface.errors import ImageDecodeError, ImageNotFoundError, ImageTooLargeError
from interpface.faces.images import load_image, save_image


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def huge_png_header(width=100_000, height=100_000) -> bytes:
    """A syntactically valid PNG whose header claims width x height RGB pixels (10^10 here)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    )


def test_missing_file(tmp_path):
    with pytest.raises(ImageNotFoundError):
        load_image(tmp_path / "nope.jpg")


def test_empty_file(tmp_path):
    (tmp_path / "e.jpg").write_bytes(b"")
    with pytest.raises(ImageDecodeError, match="empty"):
        load_image(tmp_path / "e.jpg")


def test_not_an_image(tmp_path):
    (tmp_path / "x.jpg").write_text("hello, I am text")
    with pytest.raises(ImageDecodeError, match="not an image"):
        load_image(tmp_path / "x.jpg")


def test_truncated_jpeg(tmp_path, face_rgb):
    buf = io.BytesIO()
    Image.fromarray(face_rgb).save(buf, format="JPEG")
    (tmp_path / "t.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageDecodeError):
        load_image(tmp_path / "t.jpg")


def test_huge_png_refused_before_decoding():
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ImageTooLargeError, match="before decoding"):
        load_image(huge_png_header())
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: no 30 GB buffer


def test_grayscale():
    out = load_image(_png_bytes(Image.fromarray(np.full((8, 9), 77, np.uint8))))
    assert out.shape == (8, 9, 3) and out.dtype == np.uint8 and (out == 77).all()


def test_16bit_is_scaled_not_clipped():
    arr = np.array([[0, 65535, 32896]], dtype=np.uint16)
    out = load_image(_png_bytes(Image.fromarray(arr)))
    assert out[0, :, 0].tolist() == [0, 255, 128]


def test_cmyk():
    buf = io.BytesIO()
    Image.new("CMYK", (6, 5), (0, 255, 255, 0)).save(buf, format="JPEG")
    out = load_image(buf.getvalue())
    assert out.shape == (5, 6, 3)
    assert out[..., 0].mean() > 200 and out[..., 1].mean() < 60  # red


def test_alpha_composited_over_white():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:2, :, 3] = 255  # top opaque red, bottom fully transparent
    out = load_image(_png_bytes(Image.fromarray(rgba, "RGBA")))
    assert out[0, 0].tolist() == [255, 0, 0] and out[3, 3].tolist() == [255, 255, 255]


def test_exif_orientation_applied():
    img = Image.fromarray(np.zeros((10, 20, 3), np.uint8))  # 20 wide, 10 high
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 CW to display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    assert load_image(buf.getvalue()).shape == (20, 10, 3)


def test_animated_gif_first_frame():
    frames = [Image.fromarray(np.full((6, 6, 3), v, np.uint8)) for v in (10, 250)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    out = load_image(buf.getvalue())
    assert out.shape == (6, 6, 3) and out.mean() < 50


def test_save_image_round_trip(tmp_path, face_rgb):
    save_image(tmp_path / "a.png", face_rgb)
    assert np.array_equal(load_image(tmp_path / "a.png"), face_rgb)
