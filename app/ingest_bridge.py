"""The ingestion API the app codes against, with a stop-gap until `core.ingest` (issue 6) lands.

The app imports `ingest_path`, `capture_screen`, `plan_parts` and `IngestError` from here only.
When `core.ingest` exists they are its functions, unchanged. Without it, a minimal stand-in with
the same signatures keeps the window usable: images through Pillow (size limits set, EXIF
orientation applied), PDFs through pypdfium2 (text per page, plus page images), videos refused
with a message, screenshots through Qt, and a plain token estimate. It is deliberately small;
delete it once issue 6 is merged.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.messages import ImagePart, ScreenGeometry, Source, TextPart, VideoPart

try:
    from core.ingest import IngestError, capture_screen, ingest_path, plan_parts  # noqa: F401
    FALLBACK = False
except ImportError:
    FALLBACK = True

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v"}
SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES | {".pdf"}
MAX_PIXELS = 64_000_000
PAGE_SCALE = 1.0  # 72 dpi page images: enough for a thumbnail and for the viewer


def kind_of(path: str | Path) -> str | None:
    suffix = Path(path).suffix.lower()
    return "pdf" if suffix == ".pdf" else "image" if suffix in IMAGE_SUFFIXES else \
        "video" if suffix in VIDEO_SUFFIXES else None


if FALLBACK:
    class IngestError(ValueError):
        """A file that cannot be read; the message names it and the problem."""

    @dataclass(frozen=True)
    class Ingested:
        parts: tuple
        kind: str
        summary: str
        path: str

    @dataclass(frozen=True)
    class Plan:
        parts: tuple
        omitted: tuple[str, ...]
        tokens: int

    def _image(path: Path) -> Ingested:
        from PIL import Image, ImageOps, UnidentifiedImageError

        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        try:
            with Image.open(path) as im:
                pixels = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as err:
            raise IngestError(f"{path.name}: not a readable image ({err})") from None
        h, w = pixels.shape[:2]
        return Ingested((ImagePart(pixels, Source("file", str(path))),), "image", f"{path.name}, {w}×{h}", str(path))

    def _pdf(path: Path, pages: range | None) -> Ingested:
        import pypdfium2 as pdfium

        try:
            doc = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as err:
            raise IngestError(f"{path.name}: not a readable PDF ({err})") from None
        try:
            parts, wanted = [], pages if pages is not None else range(len(doc))
            for i in wanted:
                page = doc[i]
                src = Source("pdf_page", str(path), page=i + 1)
                text = page.get_textpage().get_text_range().strip()
                image = np.ascontiguousarray(page.render(scale=PAGE_SCALE).to_numpy()[..., :3])
                parts += [TextPart(f"[page {i + 1}]\n{text}\n", src), ImagePart(image, src)]
            count = len(doc)
        finally:
            doc.close()
        return Ingested(tuple(parts), "pdf", f"{path.name}, {count} pages", str(path))

    def ingest_path(path, *, limits=None, pages: range | None = None, on_progress=None,
                    cancel: threading.Event | None = None):
        path = Path(path)
        if not path.is_file():
            raise IngestError(f"{path}: no such file")
        kind = kind_of(path)
        if kind == "image":
            return _image(path)
        if kind == "pdf":
            return _pdf(path, pages)
        if kind == "video":
            raise IngestError(f"{path.name}: videos can be attached once video ingestion (issue 6) is merged")
        raise IngestError(f"{path.name}: Spyglass reads PDFs, images and videos, not {path.suffix or 'this file'}")

    def capture_screen(*, monitor: int | None = None, region: tuple[int, int, int, int] | None = None,
                       exclude=()) -> ImagePart:
        from app.images import grab_screen

        return grab_screen(monitor=monitor, region=region)

    def _tokens(part, count_text_tokens) -> int:
        if isinstance(part, TextPart):
            return count_text_tokens(part.text) if count_text_tokens else max(1, len(part.text) // 4)
        if isinstance(part, VideoPart):
            return part.frames.shape[0] * 256
        h, w = part.pixels.shape[:2]
        return max(1, min(h * w, 451584) // (28 * 28))

    def plan_parts(parts, *, context_tokens, max_image_pixels=451584, max_images=16, count_text_tokens=None):
        kept, omitted, tokens, images = [], [], 0, 0
        for p in parts:
            cost = _tokens(p, count_text_tokens)
            is_image = not isinstance(p, TextPart)
            if tokens + cost > context_tokens or (is_image and images >= max_images):
                where = p.source.page and f"page {p.source.page}" or p.source.path or "an attachment"
                omitted.append(f"{type(p).__name__} of {where}")
                continue
            kept.append(p)
            tokens, images = tokens + cost, images + is_image
        return Plan(tuple(kept), tuple(omitted), tokens)


def screen_source(geometry: ScreenGeometry) -> Source:
    return Source("screenshot", geometry=geometry)
