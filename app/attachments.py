"""Attachments as the composer shows them: core.chat's `Attachment` plus a thumbnail and a label.

`load_attachment` runs in a background job: it reads the file through `core.chat` (ingestion in
a bounded child, the file's digest), estimates its tokens against the loaded engine's media plan
and context (so the chip shows the cost and any omission before sending; with no engine ready
yet the estimate waits for one), and makes a thumbnail from the first image. It passes the
ingestion's progress out and its cancel flag in. Pasted images and screenshots are saved as PNG
files in the data folder first, so the history can point at a real file and re-read it later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from core import ingest
from core.chat import Attachment, estimate, file_digest, read_attachment
from core.engine import EngineInfo
from core.messages import ImagePart, TextPart, VideoPart

from app.images import png_bytes, thumbnail, to_qimage

__all__ = ["Attachment", "label", "load_attachment", "save_capture", "with_estimate"]


def label(att: Attachment) -> str:
    """What the chip says: name, pages or frames, and the token estimate once there is one."""
    unit = {"pdf": "page", "video": "frame"}.get(att.kind)
    size = f" · {att.count} {unit}{'s' if att.count != 1 else ''}" if unit else ""
    captured = att.kind in ("screenshot", "clipboard") or not att.path  # its file name says nothing
    cost = f" · ~{att.tokens} tokens" if att.tokens is not None else ""
    return f"{att.summary if captured else Path(att.path or '').name}{size}{cost}"


def with_estimate(att: Attachment, info: EngineInfo | None) -> Attachment:
    """`att` estimated against the engine described by `info` (unchanged without one)."""
    return estimate(att, media=info.media, context_tokens=info.context_tokens) if info else att


def _first_pixels(parts: tuple):
    for p in parts:
        if isinstance(p, ImagePart):
            return p.pixels
        if isinstance(p, VideoPart):
            return p.frames[0]
    return None


def _finish(att: Attachment, info: EngineInfo | None) -> Attachment:
    first = _first_pixels(att.parts)
    return with_estimate(replace(att, thumbnail=thumbnail(first) if first is not None else None), info)


def load_attachment(path: str | Path, *, info: EngineInfo | None,
                    on_progress: Callable[[ingest.IngestProgress], None] | None = None,
                    cancel: threading.Event | None = None) -> Attachment:
    """Read `path` (in a background job); raises IngestError with a message for the user.

    `on_progress` is called on the job's thread after each page or frame; setting `cancel` stops
    the reading between pages and raises `ingest.Cancelled`."""
    return _finish(read_attachment(path, on_progress=on_progress, cancel=cancel), info)


def save_capture(part: ImagePart, folder: Path, kind: str, info: EngineInfo | None) -> Attachment:
    """A pasted image or screenshot, written to `folder` as PNG so history can find it again."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 10**6}.png"
    path.write_bytes(png_bytes(to_qimage(part.pixels)))
    h, w = part.pixels.shape[:2]
    att = Attachment(kind, str(path), f"{kind} {w}×{h}", 1, (part,), file_digest(path))
    return _finish(att, info)


def text_only(parts: tuple) -> tuple:
    return tuple(p for p in parts if isinstance(p, TextPart))
