"""Test files made on the spot: PDFs written by hand (text pages, image pages, encrypted,
deeply nested), images through Pillow, videos through OpenCV's VideoWriter. Nothing is
downloaded or committed; every byte a test reads is produced here.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

PAD = bytes.fromhex("28bf4e5e4e758a4164004e56fffa01082e2e00b6d0683e802f0ca9fe6453697a")
FILE_ID = bytes(range(16))


def _escape(text: str) -> bytes:
    return text.encode("latin-1").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _text_stream(text: str) -> bytes:
    lines = text.split("\n")
    ops = [b"BT /F1 18 Tf 72 720 Td 22 TL"] + [b"(" + _escape(line) + b") Tj T*" for line in lines] + [b"ET"]
    return b"\n".join(ops)


def _image_pixels(seed: int, size=(200, 150)) -> np.ndarray:
    w, h = size
    pixels = np.zeros((h, w, 3), dtype=np.uint8)
    pixels[:, :, 0] = (seed * 40) % 256
    pixels[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = (0, 0, 255)
    return pixels


class _PdfWriter:
    """Objects numbered from 1; `encrypt_key` RC4-encrypts strings and streams (Standard R2)."""

    def __init__(self, encrypt_key: bytes | None = None) -> None:
        self.objects: list[bytes] = []
        self.key = encrypt_key

    def reserve(self) -> int:
        self.objects.append(b"")
        return len(self.objects)

    def set(self, num: int, body: bytes) -> None:
        self.objects[num - 1] = body

    def add(self, body: bytes) -> int:
        num = self.reserve()
        self.set(num, body)
        return num

    def stream(self, num: int, data: bytes, extra: bytes = b"") -> bytes:
        if self.key:
            data = rc4(_object_key(self.key, num), data)
        return b"<< /Length %d %s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"

    def bytes(self, root: int, trailer_extra: bytes = b"") -> bytes:
        out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for num, body in enumerate(self.objects, start=1):
            offsets.append(len(out))
            out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(self.objects) + 1)
        out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
        out += b"trailer\n<< /Size %d /Root %d 0 R %s >>\nstartxref\n%d\n%%%%EOF\n" % (
            len(self.objects) + 1, root, trailer_extra, xref)
        return bytes(out)


def make_pdf(path: Path, pages: list, *, user_password: str | None = None, sizes: list | None = None) -> Path:
    """A PDF whose page i shows `pages[i]`: a str is a text page, None an image-only (scanned) page;
    `sizes[i]`, when given, is page i's (width, height) in points (default: US letter)."""
    key, encrypt = (None, b"") if user_password is None else _standard_security(user_password)
    w = _PdfWriter(key)
    catalog, tree = w.reserve(), w.reserve()
    font = w.add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids = []
    for i, content in enumerate(pages):
        kids.append(_add_page(w, tree, font, i, content, sizes[i] if sizes else (612, 792)))
    w.set(catalog, b"<< /Type /Catalog /Pages %d 0 R >>" % tree)
    w.set(tree, b"<< /Type /Pages /Count %d /Kids [%s] >>" % (len(kids), b" ".join(b"%d 0 R" % k for k in kids)))
    trailer = b"/ID [<%s> <%s>]" % (FILE_ID.hex().encode(), FILE_ID.hex().encode())
    if encrypt:
        trailer += b" /Encrypt %d 0 R" % w.add(encrypt)
    path.write_bytes(w.bytes(catalog, trailer))
    return path


def _add_page(w: _PdfWriter, tree: int, font: int, i: int, content, size: tuple = (612, 792)) -> int:
    page = w.reserve()
    if content is None:
        pixels = _image_pixels(i)
        image = w.reserve()
        w.set(image, w.stream(image, zlib.compress(pixels.tobytes()),
                              b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
                              b"/BitsPerComponent 8 /Filter /FlateDecode" % (pixels.shape[1], pixels.shape[0])))
        resources = b"<< /XObject << /Im0 %d 0 R >> >>" % image
        data = b"q 400 0 0 300 100 300 cm /Im0 Do Q"
    else:
        resources = b"<< /Font << /F1 %d 0 R >> >>" % font
        data = _text_stream(content)
    stream = w.reserve()
    w.set(stream, w.stream(stream, data))
    box = b"[0 0 %s %s]" % (repr(size[0]).encode(), repr(size[1]).encode())
    w.set(page, b"<< /Type /Page /Parent %d 0 R /MediaBox %s /Resources %s /Contents %d 0 R >>"
          % (tree, box, resources, stream))
    return page


def rc4(key: bytes, data: bytes) -> bytes:
    s, j = list(range(256)), 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    out, i, j = bytearray(), 0, 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


def _padded(password: str) -> bytes:
    return (password.encode("latin-1") + PAD)[:32]


def _standard_security(user_password: str, owner_password: str = "owner") -> tuple[bytes, bytes]:
    """The file key and /Encrypt dictionary of the Standard handler, revision 2 (40-bit RC4)."""
    owner = rc4(hashlib.md5(_padded(owner_password)).digest()[:5], _padded(user_password))
    permissions = struct.pack("<i", -4)
    key = hashlib.md5(_padded(user_password) + owner + permissions + FILE_ID).digest()[:5]
    user = rc4(key, PAD)
    return key, b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P -4 >>" % (owner.hex().encode(), user.hex().encode())


def _object_key(key: bytes, num: int) -> bytes:
    return hashlib.md5(key + struct.pack("<I", num)[:3] + b"\x00\x00").digest()[:len(key) + 5]


def make_nested_pdf(path: Path, *, depth: int = 200_000) -> Path:
    """A one-page text PDF whose page carries an annotation list of arrays nested `depth` deep."""
    nest = b"[" * depth + b"]" * depth
    w = _PdfWriter()
    catalog, tree, page, font = w.reserve(), w.reserve(), w.reserve(), w.reserve()
    w.set(catalog, b"<< /Type /Catalog /Pages %d 0 R >>" % tree)
    w.set(tree, b"<< /Type /Pages /Count 1 /Kids [%d 0 R] >>" % page)
    w.set(font, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    contents = w.add(w.stream(len(w.objects) + 1, _text_stream("nested")))
    w.set(page, b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> >> "
          b"/Contents %d 0 R /Annots %s >>" % (tree, font, contents, nest))
    path.write_bytes(w.bytes(catalog))
    return path


def make_deep_page_tree_pdf(path: Path, *, depth: int = 20_000) -> Path:
    """A PDF whose only page sits under `depth` nested /Pages nodes, each the only kid of the last."""
    w = _PdfWriter()
    catalog = w.reserve()
    nodes = [w.reserve() for _ in range(depth)]
    page = w.reserve()
    w.set(catalog, b"<< /Type /Catalog /Pages %d 0 R >>" % nodes[0])
    for level, node in enumerate(nodes):
        kid = nodes[level + 1] if level + 1 < depth else page
        parent = b"/Parent %d 0 R" % nodes[level - 1] if level else b""
        w.set(node, b"<< /Type /Pages /Count 1 /Kids [%d 0 R] %s >>" % (kid, parent))
    w.set(page, b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] >>" % nodes[-1])
    path.write_bytes(w.bytes(catalog))
    return path


def make_image_pdf(path: Path, pages: int, size=(850, 1100)) -> Path:
    """An image-only PDF (one picture per page, no text layer), saved by Pillow."""
    images = [Image.fromarray(_image_pixels(i, size)) for i in range(pages)]
    images[0].save(path, "PDF", save_all=True, append_images=images[1:], resolution=100)
    return path


def frame_color(i: int) -> tuple[int, int, int]:
    """An RGB colour that identifies frame i after lossy compression (steps of 64 per channel)."""
    return ((i % 4) * 64 + 32, ((i // 4) % 4) * 64 + 32, ((i // 16) % 4) * 64 + 32)


def make_video(path: Path, *, seconds: float, fps: float, size=(160, 120), codec: str = "mp4v") -> Path:
    """A video whose frame i is filled with `frame_color(i)`."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, size)
    assert writer.isOpened(), f"OpenCV cannot write {codec} to {path}"
    frame = np.empty((size[1], size[0], 3), dtype=np.uint8)
    for i in range(round(seconds * fps)):
        frame[:] = frame_color(i)[::-1]  # BGR
        writer.write(frame)
    writer.release()
    return path
