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


def make_heavy_pdf(path: Path, pages: int = 60, shapes: int = 800) -> Path:
    """A PDF of `pages` pages that each take pdfium about 75 ms to render: every page draws one shared
    content stream of `shapes` small coloured triangles, then its own line of text ("Page N")."""
    rng = np.random.default_rng(7)
    ops = [b"%.2f %.2f %.2f rg %d %d m %d %d l %d %d l f" % (*rng.random(3), *rng.integers(0, 600, 6))
           for _ in range(shapes)]
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>", _stream(b"\n".join(ops))]
    kids = []
    for n in range(1, pages + 1):
        objects.append(_stream(b"BT /F1 24 Tf 72 700 Td (Page %d) Tj ET" % n))
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >>"
                       b" /Contents [4 0 R %d 0 R] >>" % len(objects))
        kids.append(b"%d 0 R" % len(objects))
    objects[1] = b"<< /Type /Pages /Count %d /Kids [%s] >>" % (pages, b" ".join(kids))
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for num, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def _stream(data: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"
