"""Attachments of a conversation: read once, kept by content, planned against the engine.

An `Attachment` is a file (or a saved screenshot or pasted image) turned into parts by
`core.ingest`, with the digest of the file's bytes. `AttachmentCache` holds the parts of the
attachments the conversation may send again, keyed by that digest rather than by path: two
paths with the same bytes share one entry, and a file changed on disk since it was attached is
never served from the old entry (it is read again, and the person is told). Re-reading happens
lazily, only when an earlier message must go to the model and its parts are not cached, and
always off the UI thread (it reads files). The cache keeps at most `max_bytes` of pixels,
dropping the least recently used entries first; a dropped entry is simply read again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from core import ingest
from core.history import AttachmentRecord
from core.messages import ImagePart, TextPart, VideoPart

Reader = Callable[[str], "ingest.Ingested"]  # path -> what ingestion made of it


def file_digest(path: str | Path) -> str:
    """blake2b of the file's bytes (read in 1 MiB blocks)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class Attachment:
    kind: str  # pdf, image, video, screenshot, clipboard
    path: str | None
    summary: str
    count: int  # pages, frames, or 1
    parts: tuple  # every part ingestion made, in order; the planner decides what is sent
    digest: str = ""
    tokens: int | None = None  # estimate under the engine's media plan (None: no engine to ask yet)
    omitted: tuple[str, ...] = ()  # what the estimate left out
    thumbnail: bytes | None = None  # a small PNG, made by the front end

    def record(self) -> AttachmentRecord:
        return AttachmentRecord(
            self.kind, self.path, self.summary, self.count, self.tokens or 0, self.thumbnail, digest=self.digest
        )


def count_of(kind: str, parts: tuple) -> int:
    if kind == "pdf":
        return len({p.source.page for p in parts if p.source.page is not None})
    if kind == "video":
        return sum(p.frames.shape[0] for p in parts if isinstance(p, VideoPart))
    return 1


def read_attachment(path: str | Path, *, reader: Reader | None = None, **ingest_options) -> Attachment:
    """Ingest `path` (blocking: call it off the UI thread). Raises `ingest.IngestError` (a
    ValueError) naming the file and the problem, or `ingest.Cancelled`."""
    got = reader(str(path)) if reader else ingest.ingest_path(str(path), **ingest_options)
    parts = tuple(got.parts)
    return Attachment(got.kind, str(path), got.summary, count_of(got.kind, parts), parts, file_digest(path))


def estimate(att: Attachment, *, media, context_tokens: int) -> Attachment:
    """`att` with its token estimate and omissions under an engine's media plan and context."""
    plan = ingest.plan_parts(att.parts, context_tokens=context_tokens, media=media)
    return replace(att, tokens=plan.tokens, omitted=plan.omitted)


def _size(parts: tuple) -> int:
    return sum(
        p.pixels.nbytes if isinstance(p, ImagePart) else p.frames.nbytes if isinstance(p, VideoPart) else len(p.text)
        for p in parts
    )


class AttachmentCache:
    """Parts by content digest; safe to use from several threads."""

    def __init__(self, *, max_bytes: int = 1 << 30, reader: Reader | None = None) -> None:
        self.max_bytes, self.reader = max_bytes, reader
        self._entries: OrderedDict[str, tuple] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, att: Attachment) -> None:
        if not att.digest:
            return
        with self._lock:
            self._entries[att.digest] = att.parts
            self._entries.move_to_end(att.digest)
            self._trim()

    def get(self, digest: str) -> tuple | None:
        with self._lock:
            parts = self._entries.get(digest) if digest else None
            if parts is not None:
                self._entries.move_to_end(digest)
            return parts

    def _trim(self) -> None:
        total = sum(_size(p) for p in self._entries.values())
        while total > self.max_bytes and len(self._entries) > 1:
            _, parts = self._entries.popitem(last=False)
            total -= _size(parts)

    def parts(self, record: AttachmentRecord) -> tuple[tuple, str | None]:
        """The parts of an earlier attachment and a note for the person (None when all is well).
        A file that can no longer be read becomes a line of text naming it, never an error."""
        cached = self.get(record.digest)
        if cached is not None:
            return cached, None
        if not record.path:
            return (TextPart(f"[a {record.kind} that was not saved]"),), None
        try:
            att = read_attachment(record.path, reader=self.reader)
        except (ValueError, OSError) as err:
            note = f"{record.path} could not be read again ({err}); the model sees only its name"
            return (TextPart(f"[attachment {record.path} is no longer readable]"),), note
        self.put(att)
        changed = record.digest and att.digest != record.digest
        return att.parts, (
            f"{record.path} changed since it was attached; the model sees what it holds now" if changed else None
        )
