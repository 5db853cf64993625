"""The files the self-test ingests, made on the spot: a one-page PDF with a text layer, a PNG and
a short MP4 (OpenCV's mpeg4 encoder, from the bundled LGPL FFmpeg). Nothing is downloaded.

The PDF is written by hand (one page, Helvetica, no compression): a few dozen lines, and the same
bytes every time, so a failure points at the reader rather than at the writer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PDF_TEXT = "Spyglass self-test page"


def write_pdf(path: Path, text: str = PDF_TEXT) -> Path:
    content = f"BT /F1 24 Tf 72 700 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Count 1 /Kids [3 0 R] >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def write_image(path: Path, size: tuple[int, int] = (320, 200)) -> Path:
    from PIL import Image

    pixels = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    pixels[:, :, 0] = np.linspace(0, 255, size[0], dtype=np.uint8)
    pixels[size[1] // 4 : 3 * size[1] // 4, size[0] // 4 : 3 * size[0] // 4] = (30, 60, 200)
    Image.fromarray(pixels).save(path, "PNG")
    return path


def write_video(path: Path, *, seconds: int = 3, fps: int = 10, size: tuple[int, int] = (160, 120)) -> Path:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write an mp4v video to {path}")
    frame = np.empty((size[1], size[0], 3), dtype=np.uint8)
    for i in range(seconds * fps):
        frame[:] = (i * 8 % 256, 128, 255 - i * 8 % 256)
        writer.write(frame)
    writer.release()
    return path
