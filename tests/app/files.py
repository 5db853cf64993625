"""Fixture files rendered by the tests: a PDF with text on each page, and a PNG image."""

from pathlib import Path

import numpy as np
from PIL import Image


def make_image(path: Path, size=(320, 200), color=(200, 40, 40)) -> Path:
    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    pixels[...] = color
    pixels[20:80, 20:120] = (255, 255, 255)
    Image.fromarray(pixels).save(path)
    return path


def make_pdf(path: Path, pages=("The quick brown fox.", "Page two talks about a cat on a mat.")) -> Path:
    """A real PDF with a text layer, written by pypdfium2 (so text extraction has words to find)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    doc = pdfium.PdfDocument.new()
    for text in pages:
        page = doc.new_page(300, 400)
        obj = raw.FPDFPageObj_NewTextObj(doc, b"Helvetica", 14.0)
        encoded = (text + "\x00").encode("utf-16-le")
        raw.FPDFText_SetText(obj, (raw.FPDF_WCHAR * (len(encoded) // 2)).from_buffer_copy(encoded))
        raw.FPDFPageObj_Transform(obj, 1, 0, 0, 1, 20, 350)
        raw.FPDFPage_InsertObject(page.raw, obj)
        raw.FPDFPage_GenerateContent(page.raw)
    doc.save(str(path))
    return path
