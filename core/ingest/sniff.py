"""Which reader a file goes to, decided from its first bytes (magic numbers), never its name.

A PNG renamed `.pdf` still reads as an image, and random bytes named `.mp4` are refused here,
before any native decoder sees them. Image formats Pillow could open but we do not promise
(ICO, PSD, HEIC, ...) are refused too, so the set of accepted formats is exactly the documented one.
Signatures that must sit at offset 0 are checked first; only a file that has none is searched for
`%PDF-` in its first KiB (PDF allows junk before it), since any image or video may carry those
five bytes in its metadata (a PNG text chunk quoting a PDF is still a PNG).
"""

from __future__ import annotations

from dataclasses import dataclass

HEAD_BYTES = 1024  # PDF allows junk before `%PDF-` within the first KiB

_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
_VIDEO_MAGIC = (
    (b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
    (b"FLV\x01", "FLV"),
    (b"\x00\x00\x01\xba", "MPEG program stream"),
    (b"OggS", "Ogg"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "ASF/WMV"),
)
_STILL_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis")


@dataclass(frozen=True)
class Sniffed:
    kind: str  # "pdf" | "image" | "video" | "unknown"
    format: str  # e.g. "PNG", "MP4/QuickTime"; for "unknown", the first bytes in hex


def sniff(head: bytes) -> Sniffed:
    """The kind and format of a file whose first `HEAD_BYTES` bytes are `head`."""
    for magic, name in _IMAGE_MAGIC:
        if head.startswith(magic):
            return Sniffed("image", name)
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"AVI "):
        return Sniffed("image", "WebP") if head[8:12] == b"WEBP" else Sniffed("video", "AVI")
    if head[4:8] == b"ftyp":
        return _iso_media(head)
    for magic, name in _VIDEO_MAGIC:
        if head.startswith(magic):
            return Sniffed("video", name)
    if len(head) >= 377 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47:
        return Sniffed("video", "MPEG transport stream")
    if b"%PDF-" in head:
        return Sniffed("pdf", "PDF")
    return Sniffed("unknown", head[:8].hex(" "))


def _iso_media(head: bytes) -> Sniffed:
    brand = head[8:12]
    if brand in _STILL_BRANDS:
        return Sniffed("unknown", f"HEIF/AVIF still image (brand {brand.decode('latin-1')!r})")
    return Sniffed("video", "MP4/QuickTime")
