"""Image ingestion through real Pillow: every promised format, EXIF orientation, first frame of
an animation, transparency on white, and the byte and pixel limits checked before decoding."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from core.ingest import Limits, TooLarge, ingest_path
from core.messages import ImagePart


def _picture(width=64, height=48) -> Image.Image:
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 2] = (255, 0, 0)  # left half red, right half blue
    pixels[:, width // 2:] = (0, 0, 255)
    return Image.fromarray(pixels)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"])
def test_each_format_reads_as_rgb_with_its_size(tmp_path, fmt):
    path = tmp_path / "picture.bin"  # the name says nothing: the content decides
    _picture().save(path, fmt)
    result = ingest_path(path)
    (part,) = result.parts
    assert isinstance(part, ImagePart) and part.source.kind == "file" and part.source.path == str(path)
    assert result.kind == "image" and result.summary == "1 image 64x48"
    assert part.pixels.shape == (48, 64, 3) and part.pixels.dtype == np.uint8
    left, right = part.pixels[24, 8].astype(int), part.pixels[24, 56].astype(int)
    assert np.abs(left - (255, 0, 0)).max() < 40 and np.abs(right - (0, 0, 255)).max() < 40


def test_a_png_named_pdf_is_read_as_an_image(tmp_path):
    _picture().save(tmp_path / "not-a-document.pdf", "PNG")
    assert ingest_path(tmp_path / "not-a-document.pdf").kind == "image"


def test_a_png_whose_text_mentions_a_pdf_header_is_an_image(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "%PDF-1.7 pasted into the description")
    pixels = np.random.default_rng(7).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "note.png", pnginfo=info)
    assert b"%PDF-" in (tmp_path / "note.png").read_bytes()[:1024]
    result = ingest_path(tmp_path / "note.png")
    assert result.kind == "image" and np.array_equal(result.parts[0].pixels, pixels)


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to view
    _picture(64, 48).save(tmp_path / "phone.jpg", "JPEG", exif=exif, quality=95)
    pixels = ingest_path(tmp_path / "phone.jpg").parts[0].pixels
    assert pixels.shape == (64, 48, 3)  # upright: now taller than wide
    top, bottom = pixels[4, 24].astype(int), pixels[60, 24].astype(int)
    assert np.abs(top - (255, 0, 0)).max() < 40 and np.abs(bottom - (0, 0, 255)).max() < 40


def test_an_animated_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (32, 32), color) for color in ((0, 255, 0), (255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    pixels = ingest_path(tmp_path / "anim.gif").parts[0].pixels
    assert tuple(pixels[16, 16]) == (0, 255, 0)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF"])
def test_transparency_is_flattened_onto_white(tmp_path, fmt):
    image = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    image.paste((200, 0, 0, 255), (0, 0, 10, 20))
    image.save(tmp_path / "alpha.img", fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    pixels = ingest_path(tmp_path / "alpha.img").parts[0].pixels
    assert tuple(pixels[10, 15]) == (255, 255, 255)
    assert np.abs(pixels[10, 3].astype(int) - (200, 0, 0)).max() < 10


def test_half_transparent_pixels_blend_with_white(tmp_path):
    Image.new("RGBA", (8, 8), (0, 0, 0, 128)).save(tmp_path / "half.png")
    assert abs(int(ingest_path(tmp_path / "half.png").parts[0].pixels[4, 4, 0]) - 127) <= 2


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height, followed by one tiny IDAT and IEND."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("limit", [None, 1_000])
def test_a_declared_size_over_the_pixel_limit_is_refused_before_decoding(tmp_path, limit):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(100_000, 100_000) if limit is None else png_header_only(40, 30))
    limits = Limits() if limit is None else Limits(image_pixels=limit)
    with pytest.raises(TooLarge, match=r"bomb\.png: .*(pixels|limit)"):  # the header alone: no pixels to decode
        ingest_path(path, limits=limits)


def test_a_real_image_just_over_the_pixel_limit_is_refused(tmp_path):
    _picture(100, 100).save(tmp_path / "big.png")
    with pytest.raises(TooLarge, match=r"100x100 = 10,000 pixels, more than the limit of 9,999"):
        ingest_path(tmp_path / "big.png", limits=Limits(image_pixels=9_999))
    assert ingest_path(tmp_path / "big.png", limits=Limits(image_pixels=10_000)).summary == "1 image 100x100"


def test_a_file_over_the_byte_limit_is_refused(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    (tmp_path / "noisy.png").write_bytes(buffer.getvalue())
    with pytest.raises(TooLarge, match=r"noisy\.png: the image file has [\d,]+ bytes, more than the limit of 1,000"):
        ingest_path(tmp_path / "noisy.png", limits=Limits(image_bytes=1_000))
