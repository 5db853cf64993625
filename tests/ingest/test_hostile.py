"""Files built to mislead the readers: image headers that claim more pixels than the file holds,
text chunks larger than Pillow's default, sizes far past the pixel limit, a PDF without pages.
Each must read correctly or end as a typed error in our own words, naming the file and the
problem."""

import io
import struct

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from core.ingest import DamagedFile, TooLarge, UnsupportedFormat, ingest_path
from tests.ingest.fixtures import _PdfWriter
from tests.ingest.test_images import png_header_only


def _jpeg(size=(16, 16), **options) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(5).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def _with_frame_size(jpeg: bytes, marker: bytes, width: int, height: int) -> bytes:
    at = jpeg.index(marker)  # SOFn: marker, length (2), precision (1), height (2), width (2)
    return jpeg[: at + 5] + struct.pack(">HH", height, width) + jpeg[at + 9:]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # the test's own Image.open
@pytest.mark.parametrize("progressive, marker", [(False, b"\xff\xc0"), (True, b"\xff\xc2")])
def test_a_jpeg_header_claiming_far_more_pixels_than_its_data_holds_is_damaged(tmp_path, progressive, marker):
    path = tmp_path / "liar.jpg"
    path.write_bytes(_with_frame_size(_jpeg(progressive=progressive), marker, 10_000, 9_999))
    assert Image.open(path).size == (10_000, 9_999)  # Pillow believes the header
    size = path.stat().st_size
    with pytest.raises(DamagedFile, match=rf"liar\.jpg: its header claims 10000x9999 = 99,990,000 pixels, "
                                          rf"but the file has only {size:,} bytes"):
        ingest_path(path)


def test_an_arithmetic_coded_jpeg_is_refused_by_name(tmp_path):
    path = tmp_path / "arith.jpg"
    path.write_bytes(_jpeg().replace(b"\xff\xc0", b"\xff\xc9", 1))  # SOF9: arithmetic coding
    with pytest.raises(UnsupportedFormat, match=r"arith\.jpg: .*arithmetic"):
        ingest_path(path)


def test_a_png_header_claiming_far_more_pixels_than_its_data_holds_is_refused_before_decoding(tmp_path):
    path = tmp_path / "liar.png"
    path.write_bytes(png_header_only(10_000, 9_999))
    with pytest.raises(DamagedFile, match=r"liar\.png: its header claims 10000x9999 = 99,990,000 pixels, but the "
                                          r"file has only \d+ bytes"):
        ingest_path(path)


def test_a_truncated_png_is_damaged(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(6).integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(buffer, "PNG")
    (tmp_path / "cut.png").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(DamagedFile, match=r"cut\.png: the image data is truncated"):
        ingest_path(tmp_path / "cut.png")


@pytest.mark.parametrize("mode, fmt, options", [("1", "PNG", {"optimize": True}), ("L", "PNG", {"optimize": True}),
                                                 ("L", "JPEG", {"progressive": True, "optimize": True}),
                                                 ("RGB", "JPEG", {}), ("L", "GIF", {}), ("1", "TIFF", {"compression": "group4"}),
                                                 ("L", "TIFF", {"compression": "jpeg"})])
def test_flat_images_compressed_far_beyond_photos_still_read(tmp_path, mode, fmt, options):
    path = tmp_path / "flat.img"
    Image.new(mode, (4000, 3000), 255 if mode != "RGB" else (255, 255, 255)).save(path, fmt, **options)
    assert ingest_path(path).parts[0].pixels.min() >= 250  # (JPEG's white may be 254)
    assert 12_000_000 / path.stat().st_size > 50  # far beyond a photo's few pixels per byte


def test_a_png_with_a_64_mib_compressed_text_chunk_reads(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "x" * (64 << 20), zip=True)  # zTXt: 64 MiB of text in about 64 KB
    Image.new("RGB", (8, 8), (10, 20, 30)).save(tmp_path / "chatty.png", pnginfo=info)
    assert tuple(ingest_path(tmp_path / "chatty.png").parts[0].pixels[4, 4]) == (10, 20, 30)


def test_a_declared_size_far_past_the_limit_quotes_our_limit_not_pillows(tmp_path):
    (tmp_path / "vast.png").write_bytes(png_header_only(30_000, 30_000))
    with pytest.raises(TooLarge) as caught:
        ingest_path(tmp_path / "vast.png")
    message = str(caught.value)
    assert message == f"{tmp_path / 'vast.png'}: the image declares 30000x30000 = 900,000,000 pixels, more than " \
                      f"the limit of 100,000,000 pixels"


def test_a_pdf_without_pages_says_so(tmp_path):
    writer = _PdfWriter()
    catalog, tree = writer.reserve(), writer.reserve()
    writer.set(catalog, b"<< /Type /Catalog /Pages %d 0 R >>" % tree)
    writer.set(tree, b"<< /Type /Pages /Count 0 /Kids [] >>")
    (tmp_path / "blank.pdf").write_bytes(writer.bytes(catalog))
    with pytest.raises(DamagedFile) as caught:
        ingest_path(tmp_path / "blank.pdf")
    assert str(caught.value) == f"{tmp_path / 'blank.pdf'}: the PDF has no pages"
