"""Still images (PNG, JPEG, WebP, GIF, BMP, TIFF) read with Pillow into one RGB `ImagePart`.

Limits come first: the file's bytes before opening, then the width and height its header
declares before a single pixel is decoded, so a decompression bomb costs a header read. Pillow's
own bomb check (an error at twice its limit, raised while the header is read) is set to the
same pixel limit as a second line. After decoding: the EXIF
orientation is applied (a phone photo stands upright), the first frame of an animation is kept,
and transparency is flattened onto white, as a person would see the image on a page.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.ingest.errors import DamagedFile, IngestError, TooLarge
from core.ingest.limits import Limits
from core.ingest.pixels import to_rgb
from core.ingest.progress import Ingested, Reporter
from core.messages import ImagePart, Source

FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")


def read_image(path: str, limits: Limits, reporter: Reporter) -> Ingested:
    """The image at `path` as one `ImagePart` with `Source(kind="file")`."""
    _check_bytes(path, limits)
    pixels = decode_rgb(path, limits)
    reporter.progress(1, 1, "image")
    height, width = pixels.shape[:2]
    part = ImagePart(pixels, Source("file", path=path))
    return Ingested((part,), "image", f"1 image {width}x{height}", path)


def decode_rgb(path: str, limits: Limits) -> np.ndarray:
    """[H, W, 3] uint8 RGB pixels of the image's first frame, upright, transparency on white."""
    Image.MAX_IMAGE_PIXELS = limits.image_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own check below decides
            with Image.open(path, formats=FORMATS) as image:
                _check_declared_size(path, image.size, limits)
                image.seek(0)
                image.load()
                return to_rgb(ImageOps.exif_transpose(image))
    except IngestError:
        raise
    except Image.DecompressionBombError as error:
        raise TooLarge(
            path, f"its declared size exceeds the limit of {limits.image_pixels:,} pixels ({error})"
        ) from None
    except UnidentifiedImageError:
        raise DamagedFile(path, f"its header is not that of a valid {'/'.join(FORMATS)} image") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise DamagedFile(path, f"the image is damaged or truncated ({error})") from None


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
            f"the limit of {limits.image_pixels:,}",
        )
