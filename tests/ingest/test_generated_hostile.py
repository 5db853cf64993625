"""Hostile files generated here beyond the issue's list (issue 13: "go looking for the next ones"):
many-frame animations and multi-page images read their first frame, a BMP stored top-down reads
the right way up, lying or broken headers and bodies are typed errors naming the file."""

import io
import struct

import numpy as np
import pytest
from PIL import Image

from core.ingest import DamagedFile, TooLarge, UnsupportedFormat, ingest_path


def frames(n: int) -> list:
    return [Image.fromarray(np.full((48, 64, 3), (i * 7) % 256, np.uint8)) for i in range(n)]


def saved(image: Image.Image, fmt: str, **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def many(fmt: str, n: int) -> bytes:
    first, *rest = frames(n)
    return saved(first, fmt, save_all=True, append_images=rest)


def gradient_bmp(*, top_down: bool = False, width: int | None = None) -> bytes:
    rows = np.tile(np.arange(0, 256, 4, dtype=np.uint8)[:, None, None], (1, 32, 3))  # row y has value 4y
    data = bytearray(saved(Image.fromarray(rows), "BMP"))
    if top_down:  # the same pixel rows, declared as stored top to bottom: the image turns upside down
        struct.pack_into("<i", data, 22, -struct.unpack_from("<i", data, 22)[0])
    if width is not None:
        struct.pack_into("<i", data, 18, width)
    return bytes(data)


def bad_crc_png() -> bytes:
    data = bytearray(saved(Image.fromarray(np.full((32, 32, 3), 7, np.uint8)), "PNG"))
    data[data.find(b"IDAT") + 8] ^= 0xFF
    return bytes(data)


CASES = {
    "apng_200_frames.png": (lambda: many("PNG", 200), "image"),
    "gif_1000_frames.gif": (lambda: many("GIF", 1000), "image"),
    "tiff_100_pages.tiff": (lambda: many("TIFF", 100), "image"),
    "webp_100_frames.webp": (lambda: many("WEBP", 100), "image"),
    "bmp_top_down.bmp": (lambda: gradient_bmp(top_down=True), "image"),
    "cmyk.jpg": (lambda: saved(frames(1)[0].convert("CMYK"), "JPEG"), "image"),
    "garbage_icc.png": (lambda: saved(frames(1)[0], "PNG", icc_profile=b"\0" * 500), "image"),
    "bmp_width_2_31.bmp": (lambda: gradient_bmp(width=2**31 - 1), TooLarge),
    "bad_crc.png": (bad_crc_png, DamagedFile),
    "header_only.png": (lambda: saved(frames(1)[0], "PNG")[:33], DamagedFile),
    "one_byte.png": (lambda: b"\x89", UnsupportedFormat),
    "pdf_then_noise.pdf": (lambda: b"%PDF-1.7\n" + np.random.default_rng(0).bytes(4000), DamagedFile),
    "pdf_claims_1e9_pages.pdf": (lambda: b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj"
                                 b"<</Type/Pages/Count 1000000000/Kids[]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF",
                                 DamagedFile),
    "ftyp_then_noise.mp4": (lambda: b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom" + np.random.default_rng(1).bytes(20000),
                            DamagedFile),
}


@pytest.mark.parametrize("name", CASES)
def test_a_generated_hostile_file_gets_what_it_should(tmp_path, name):
    make, expected = CASES[name]
    path = tmp_path / name
    path.write_bytes(make())
    if isinstance(expected, str):
        result = ingest_path(path)
        assert result.kind == expected and len(result.parts) == 1
        pixels = result.parts[0].pixels
        assert pixels.dtype == np.uint8 and pixels.shape[2] == 3
        if name == "bmp_top_down.bmp":
            assert pixels[0, 0, 0] == 252 and pixels[-1, 0, 0] == 0  # declared top-down: flipped
        elif name.startswith(("apng", "gif", "tiff", "webp")):
            assert pixels.shape[:2] == (48, 64) and abs(int(pixels[0, 0, 0])) <= 2  # the first frame
    else:
        with pytest.raises(expected) as err:
            ingest_path(path)
        assert str(path) in str(err.value)
