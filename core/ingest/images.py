"""Still images (PNG, JPEG, WebP, GIF, BMP, TIFF) read with Pillow into one RGB `ImagePart`.

Limits come first: the file's bytes before opening, then the width and height its header
declares before a single pixel is decoded, so a decompression bomb costs a header read (Pillow's
own bomb check is off: it tests the same header size, in its own words and at twice our limit).
Then the header is held against the file: a header that claims more pixels than the file's bytes
could encode describes data that is not there (a truncated file or a forged header), which some
decoders (libjpeg) would silently paint grey; it is refused before decoding. Truncated data is
an error too (`LOAD_TRUNCATED_IMAGES` stays off). PNG text chunks may unpack to `MAX_TEXT` each
(Pillow's default, 1 MiB, calls valid files with large metadata damaged). After decoding: the EXIF
orientation is applied (a phone photo stands upright), the first frame of an animation is kept,
and every pixel mode becomes RGB with its true colours (`pixels.py`).
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageFile, ImageOps, PngImagePlugin, UnidentifiedImageError

from core.ingest.errors import DamagedFile, IngestError, TooLarge, UnsupportedFormat
from core.ingest.limits import MIB, Limits
from core.ingest.pixels import to_rgb
from core.ingest.progress import Ingested, Reporter
from core.messages import ImagePart, Source

FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
MAX_TEXT = 128 * MIB  # most text one PNG text chunk, or all of them, may unpack to

# The most pixels one byte of a format's data can encode, by the format's best case: a header
# claiming more than this many per byte of the whole file is refused. Formats not listed (WebP,
# BMP, other TIFF compressions) have decoders that stop at missing data with an error, or codes
# (WebP lossless, BMP run-length) that can encode a flat area in almost no bits, so no bound.
PIXELS_PER_BYTE = {
    "PNG": 8 * 1032,  # deflate expands at most 1032:1; a 1-bit pixel is an eighth of a byte
    "GIF": 4096 * 8 // 3,  # one LZW code, 3 bits at the least, stands for at most 4096 pixels
    "JPEG": 512,  # Huffman coding: at least 1 bit per 8x8 block (a progressive grey DC scan)
}
TIFF_PIXELS_PER_BYTE = {"jpeg": 512, "tiff_jpeg": 512}  # CCITT fax codes: 1 bit per row, see below
CCITT = ("tiff_ccitt", "group3", "group4")
ARITHMETIC_JPEG = (0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)  # SOFn markers of arithmetic-coded frames


def read_image(path: str, limits: Limits, reporter: Reporter) -> Ingested:
    """The image at `path` as one `ImagePart` with `Source(kind="file")`."""
    _check_bytes(path, limits)
    pixels = decode_rgb(path, limits, reporter)
    reporter.progress(1, 1, "image")
    height, width = pixels.shape[:2]
    part = ImagePart(pixels, Source("file", path=path))
    return Ingested((part,), "image", f"1 image {width}x{height}", path)


def decode_rgb(path: str, limits: Limits, reporter: Reporter) -> np.ndarray:
    """[H, W, 3] uint8 RGB pixels of the image's first frame, upright, transparency on white.

    The decode reports no progress of its own (a 100 MP PNG may take seconds), so it runs in
    `reporter.working()`, once the limits have bounded its cost."""
    Image.MAX_IMAGE_PIXELS = None  # our check below, on the same header numbers, in our words
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    PngImagePlugin.MAX_TEXT_CHUNK = PngImagePlugin.MAX_TEXT_MEMORY = MAX_TEXT
    try:
        with Image.open(path, formats=FORMATS) as image:
            _check_declared_size(path, image.size, limits)
            _check_data_is_there(path, image)
            with reporter.working():
                image.seek(0)
                image.load()
                return to_rgb(ImageOps.exif_transpose(image))
    except IngestError:
        raise
    except UnidentifiedImageError:
        raise DamagedFile(path, f"its header is not that of a valid {'/'.join(FORMATS)} image") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise _decoding_error(path, error) from None


def _decoding_error(path: str, error: Exception) -> IngestError:
    if isinstance(error, ValueError) and "MAX_TEXT_" in str(error):  # Pillow names the setting it hit
        return TooLarge(path, f"its text metadata (PNG text chunks) unpacks to more than {MAX_TEXT // MIB} MiB")
    if "truncated" in str(error):
        return DamagedFile(path, f"the image data is truncated ({error})")
    return DamagedFile(path, f"the image is damaged or truncated ({error})")


def _check_bytes(path: str, limits: Limits) -> None:
    size = os.path.getsize(path)
    if size > limits.image_bytes:
        raise TooLarge(path, f"the image file has {size:,} bytes, more than the limit of {limits.image_bytes:,}")


def _check_declared_size(path: str, size: tuple[int, int], limits: Limits) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise DamagedFile(path, f"the image declares an empty size {width}x{height}")
    if width * height > limits.image_pixels:
        raise TooLarge(
            path,
            f"the image declares {width}x{height} = {width * height:,} pixels, more than "
            f"the limit of {limits.image_pixels:,} pixels",
        )


def _check_data_is_there(path: str, image: ImageFile.ImageFile) -> None:
    """Refuse a header that claims more pixels than the file's bytes could encode (`PIXELS_PER_BYTE`)."""
    if image.format == "JPEG" and _jpeg_frame_marker(path) in ARITHMETIC_JPEG:
        raise UnsupportedFormat(
            path, "it is an arithmetic-coded JPEG, which Spyglass does not read (nor do web browsers); save it as a PNG"
        )
    left, top, right, bottom = _data_extent(image)
    width, height = right - left, bottom - top
    per_byte = _pixels_per_byte(image, width)
    size = os.path.getsize(path)
    if per_byte is not None and width * height > per_byte * size:
        raise DamagedFile(
            path,
            f"its header claims {width}x{height} = {width * height:,} pixels, but the file has only {size:,} bytes, "
            f"and {image.format} holds at most {per_byte:,} pixels per byte: the image data is missing "
            "(a truncated file or a forged header)",
        )


def _pixels_per_byte(image: ImageFile.ImageFile, width: int) -> int | None:
    if image.format != "TIFF":
        return PIXELS_PER_BYTE.get(image.format or "")
    compression = image.info.get("compression", "")
    if compression in CCITT:
        return 8 * width  # a fax code may encode a blank row in one bit
    return TIFF_PIXELS_PER_BYTE.get(compression)


def _data_extent(image: ImageFile.ImageFile) -> tuple[int, int, int, int]:
    """The box the first frame's encoded data covers: a GIF frame may be smaller than its screen."""
    boxes = [tile[1] for tile in image.tile if tile[1] is not None] or [(0, 0, *image.size)]
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def _jpeg_frame_marker(path: str) -> int | None:
    """The second byte of the JPEG's start-of-frame marker (0xC0 baseline ... 0xCF), or None."""
    with open(path, "rb") as file:
        file.seek(2)  # past the start-of-image marker
        while len(head := file.read(4)) == 4 and head[0] == 0xFF:
            marker, length = head[1], int.from_bytes(head[2:], "big")
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # not DHT, JPG, DAC
                return marker
            if marker == 0xDA or length < 2:  # the first scan, or a broken segment
                return None
            file.seek(length - 2, os.SEEK_CUR)
    return None
