"""An attachment as the composer holds it: parts for the model, and what a chip shows.

`load_attachment` runs in a background job: it ingests the file, plans its parts against the
context (so the chip's token estimate and any omission are known before sending), and makes a
thumbnail from the first image; it passes the ingestion's progress out and its cancel flag in. Pasted images and screenshots are saved as PNG files in the data
folder first, so the history can point at a real file and re-read it in a later session.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.history import AttachmentRecord
from core.messages import ImagePart, TextPart, VideoPart

from core import ingest
from app.images import png_bytes, thumbnail, to_qimage


@dataclass(frozen=True, eq=False)
class Attachment:
    kind: str  # pdf, image, video, screenshot
    path: str | None
    summary: str
    count: int  # pages, frames, or 1
    tokens: int  # estimate after planning
    thumbnail: bytes | None
    parts: tuple
    omitted: tuple[str, ...] = ()

    def record(self) -> AttachmentRecord:
        return AttachmentRecord(self.kind, self.path, self.summary, self.count, self.tokens, self.thumbnail)

    def label(self) -> str:
        unit = {"pdf": "page", "video": "frame"}.get(self.kind)
        size = f" · {self.count} {unit}{'s' if self.count != 1 else ''}" if unit else ""
        captured = self.kind in ("screenshot", "clipboard") or not self.path  # its file name says nothing
        return f"{self.summary if captured else Path(self.path).name}{size} · ~{self.tokens} tokens"


def _first_pixels(parts: tuple):
    for p in parts:
        if isinstance(p, ImagePart):
            return p.pixels
        if isinstance(p, VideoPart):
            return p.frames[0]
    return None


def _count(kind: str, parts: tuple) -> int:
    if kind == "pdf":
        return len({p.source.page for p in parts if p.source.page is not None})
    if kind == "video":
        return sum(p.frames.shape[0] for p in parts if isinstance(p, VideoPart))
    return 1


def from_parts(kind: str, path: str | None, summary: str, parts: tuple, *, context_tokens: int) -> Attachment:
    plan = ingest.plan_parts(parts, context_tokens=context_tokens)
    first = _first_pixels(parts)
    thumb = thumbnail(first) if first is not None else None
    return Attachment(kind, path, summary, _count(kind, parts), plan.tokens, thumb, tuple(plan.parts),
                      tuple(plan.omitted))


def load_attachment(path: str | Path, *, context_tokens: int,
                    on_progress: Callable[[ingest.IngestProgress], None] | None = None,
                    cancel: threading.Event | None = None) -> Attachment:
    """Ingest `path` (in a background job); raises IngestError with a message for the user.

    `on_progress` is called on the job's thread after each page or frame; setting `cancel` stops
    the reading between pages and raises `ingest.Cancelled`."""
    got = ingest.ingest_path(str(path), on_progress=on_progress, cancel=cancel)
    return from_parts(got.kind, str(path), got.summary, tuple(got.parts), context_tokens=context_tokens)


def save_capture(part: ImagePart, folder: Path, kind: str) -> Attachment:
    """A pasted image or screenshot, written to `folder` as PNG so history can find it again."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 10**6}.png"
    path.write_bytes(png_bytes(to_qimage(part.pixels)))
    h, w = part.pixels.shape[:2]
    return from_parts(kind, str(path), f"{kind} {w}×{h}", (part,), context_tokens=1 << 30)


def text_only(parts: tuple) -> tuple:
    return tuple(p for p in parts if isinstance(p, TextPart))
