"""PDF documents read with pypdfium2: per page its text and a rendered image of the page.

A page with a text layer yields a `TextPart` then an `ImagePart` (the planner later decides to
keep text, image or both); a page without one (a scan) yields only its image. Both carry
`Source(kind="pdf_page", path, page)` with 1-based page numbers, for citations. Each page is
rendered at the scale that makes it about `Limits.page_pixels` pixels (the model's image budget),
capped at 300 dpi for tiny pages; the bound holds in pixels whatever the page's shape, and a page
more than `Limits.page_aspect` times longer than wide (or wider than long) is not rendered at all
(no model takes such an image; its text is still read, and the summary names the page). Encrypted
and damaged files raise typed errors naming the file.
"""

from __future__ import annotations

import math
import os

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from core.ingest.errors import BadPageRange, DamagedFile, EncryptedFile, TooLarge
from core.ingest.limits import Limits
from core.ingest.progress import Ingested, Reporter
from core.messages import ImagePart, Source, TextPart

POINTS_PER_INCH = 72
MAX_DPI = 300


def read_pdf(path: str, limits: Limits, pages: range | None, reporter: Reporter) -> Ingested:
    """Parts of the chosen 1-based `pages` (all by default) of the PDF at `path`, in page order."""
    _check_bytes(path, limits)
    document = _open(path)
    try:
        numbers = page_numbers(path, len(document), pages, limits)
        parts: list = []
        scanned, unshaped = 0, []
        for i, number in enumerate(numbers, start=1):
            reporter.check()
            page_parts, shape = _read_page(path, document, number, limits)
            if shape:
                unshaped.append((number, shape))
            else:
                scanned += not any(isinstance(p, TextPart) for p in page_parts)
            parts.extend(page_parts)
            reporter.progress(i, len(numbers), f"page {number} of {len(document)}")
    finally:
        document.close()
    if not parts:
        raise TooLarge(path, f"no page can be shown: {_unshaped(unshaped, limits)}, and none has text")
    return Ingested(tuple(parts), "pdf", _summary(len(numbers), scanned, unshaped, limits), path)


def page_numbers(path: str, count: int, pages: range | None, limits: Limits) -> list[int]:
    """The 1-based page numbers to read, checked against the document and the page limit."""
    if count == 0:
        raise DamagedFile(path, "the PDF has no pages")
    numbers = list(pages) if pages is not None else list(range(1, count + 1))
    if not numbers:
        raise BadPageRange(path, f"the page range {pages} is empty")
    outside = [n for n in numbers if not 1 <= n <= count]
    if outside:
        raise BadPageRange(path, f"page {outside[0]} is outside the document, which has pages 1 to {count}")
    if len(numbers) > limits.pdf_pages:
        raise TooLarge(
            path,
            f"{len(numbers)} pages asked for, more than the limit of {limits.pdf_pages} at once; choose a page range",
        )
    return numbers


def _check_bytes(path: str, limits: Limits) -> None:
    size = os.path.getsize(path)
    if size > limits.pdf_bytes:
        raise TooLarge(path, f"the PDF has {size:,} bytes, more than the limit of {limits.pdf_bytes:,}")


def _open(path: str) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(path)
    except pdfium.PdfiumError as error:
        if error.err_code == pdfium_c.FPDF_ERR_PASSWORD:
            raise EncryptedFile(
                path, "the PDF is encrypted with a password; save an unprotected copy and add that"
            ) from None
        if error.err_code == pdfium_c.FPDF_ERR_SECURITY:
            raise EncryptedFile(path, "the PDF uses an unsupported security handler") from None
        if error.err_code == pdfium_c.FPDF_ERR_SUCCESS:  # PDFium refuses a document without pages, naming no error
            raise DamagedFile(path, "the PDF has no pages") from None
        raise DamagedFile(path, f"the PDF is damaged or not a PDF ({error})") from None


def _read_page(path: str, document: pdfium.PdfDocument, number: int, limits: Limits) -> tuple[list, str]:
    """The page's parts, and its size in points when it was too elongated to render ("" if not)."""
    try:
        page = document[number - 1]
    except pdfium.PdfiumError as error:
        raise DamagedFile(path, f"page {number} could not be loaded ({error})") from None
    try:
        source = Source("pdf_page", path=path, page=number)
        text = _page_text(page)
        width, height = page.get_size()  # points
        texts = [TextPart(text, source)] if text.strip() else []
        if max(width, height) > limits.page_aspect * max(min(width, height), 1e-9):
            return texts, f"{width:,.0f} x {height:,.0f} pt"
        return [*texts, ImagePart(_render(page, width, height, limits.page_pixels), source)], ""
    finally:
        page.close()


def _page_text(page: pdfium.PdfPage) -> str:
    textpage = page.get_textpage()
    try:
        return textpage.get_text_bounded().replace("\r\n", "\n")
    finally:
        textpage.close()


def _render(page: pdfium.PdfPage, width: float, height: float, budget_pixels: int):
    scale = render_scale(width, height, budget_pixels)
    while math.ceil(width * scale) * math.ceil(height * scale) > budget_pixels * 1.01:  # rounding up past it
        scale *= 0.99
    bitmap = page.render(scale=scale, rev_byteorder=True, may_draw_forms=True)
    try:
        return bitmap.to_numpy()[:, :, :3].copy()  # [H, W, 3] RGB
    finally:
        bitmap.close()


def render_scale(width_pt: float, height_pt: float, budget_pixels: int) -> float:
    """Pixels per point that make a page of this size about `budget_pixels` pixels, at most 300 dpi."""
    area = max(width_pt, 1.0) * max(height_pt, 1.0)
    return min(math.sqrt(budget_pixels / area), MAX_DPI / POINTS_PER_INCH)


def _summary(pages: int, scanned: int, unshaped: list, limits: Limits) -> str:
    text = f"{pages} page" + ("s" if pages != 1 else "")
    notes = [f"{scanned} without a text layer"] if scanned else []
    if unshaped:
        notes.append(_unshaped(unshaped, limits))
    return text + (f" ({'; '.join(notes)})" if notes else "")


def _unshaped(unshaped: list, limits: Limits) -> str:
    shown = ", ".join(f"page {n} ({shape})" for n, shape in unshaped[:3])
    more = f" and {len(unshaped) - 3} more" if len(unshaped) > 3 else ""
    return (
        f"the image of {shown}{more} left out: more than {limits.page_aspect:g} times longer than wide, "
        "which no model takes"
    )
