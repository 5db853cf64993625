"""The conversation history: SQLite in WAL mode with synchronous=FULL (SAFETY: History).

Every write is its own committed transaction, so what the user typed is on disk before the
engine sees it, and a streamed reply is rewritten as it arrives (`update_reply`, once per batch
of tokens): a crash or SIGKILL loses at most the batch in flight. A reply left `streaming` by a
crash reads back as `interrupted`. One `HistoryStore` belongs to one thread (the UI thread);
other processes may open the same file. No Qt here: thumbnails are PNG bytes made by the caller.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .schema import migrate

STATUSES = ("done", "streaming", "cancelled", "error", "interrupted")


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created: float
    updated: float


@dataclass(frozen=True)
class AttachmentRecord:
    kind: str  # pdf, image, video, screenshot
    path: str | None
    summary: str = ""
    count: int = 0  # pages or frames (1 for an image)
    tokens: int = 0  # estimate shown on the chip
    thumbnail: bytes | None = None  # a small PNG
    id: int | None = None
    digest: str = ""  # the file's content digest when it was attached (empty before schema 3)


@dataclass(frozen=True)
class StoredMessage:
    id: int
    conversation_id: int
    role: str
    text: str
    reasoning: str = ""
    status: str = "done"
    error: str | None = None
    attachments: tuple[AttachmentRecord, ...] = ()


def _inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid an INSERT just made (sqlite3 types `lastrowid` optional; after an INSERT it is set)."""
    assert cursor.lastrowid is not None
    return cursor.lastrowid


class HistoryStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=ON")
        migrate(self.db, str(self.path))
        self.db.execute("UPDATE messages SET status = 'interrupted' WHERE status = 'streaming'")

    def _write(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self.db:  # one committed transaction
            self.db.execute("BEGIN")
            return self.db.execute(sql, args)

    # conversations
    def create_conversation(self, title: str = "New conversation") -> int:
        now = time.time()
        return _inserted_id(
            self._write("INSERT INTO conversations (title, created, updated) VALUES (?, ?, ?)", (title, now, now))
        )

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        self._write("UPDATE conversations SET title = ? WHERE id = ?", (title.strip() or "Untitled", conversation_id))

    def delete_conversation(self, conversation_id: int) -> None:
        self._write("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def conversation(self, conversation_id: int) -> Conversation | None:
        row = self.db.execute(
            "SELECT id, title, created, updated FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        return Conversation(*row) if row else None

    def conversations(self, search: str = "") -> list[Conversation]:
        """Newest first; `search` matches titles and message text, case-insensitively."""
        sql = "SELECT id, title, created, updated FROM conversations"
        args: tuple = ()
        if search.strip():
            like = "%" + search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            sql += (
                " WHERE title LIKE ? ESCAPE '\\' OR id IN (SELECT conversation_id FROM messages"
                " WHERE text LIKE ? ESCAPE '\\')"
            )
            args = (like, like)
        return [Conversation(*r) for r in self.db.execute(sql + " ORDER BY updated DESC, id DESC", args)]

    # messages
    def add_message(
        self, conversation_id: int, role: str, text: str, attachments: Iterable[AttachmentRecord] = ()
    ) -> int:
        """The message and its attachments, committed together before this returns."""
        now = time.time()
        with self.db:
            self.db.execute("BEGIN")
            mid = _inserted_id(
                self.db.execute(
                    "INSERT INTO messages (conversation_id, role, text, created) VALUES (?, ?, ?, ?)",
                    (conversation_id, role, text, now),
                )
            )
            self.db.executemany(
                "INSERT INTO attachments (message_id, kind, path, summary, count, tokens, thumbnail, digest)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(mid, a.kind, a.path, a.summary, a.count, a.tokens, a.thumbnail, a.digest) for a in attachments],
            )
            self.db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
        return mid

    def start_reply(self, conversation_id: int, model: str = "") -> int:
        now = time.time()
        with self.db:
            self.db.execute("BEGIN")
            mid = _inserted_id(
                self.db.execute(
                    "INSERT INTO messages (conversation_id, role, status, model, created)"
                    " VALUES (?, 'assistant', 'streaming', ?, ?)",
                    (conversation_id, model, now),
                )
            )
            self.db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
        return mid

    def update_reply(self, message_id: int, text: str, reasoning: str = "") -> None:
        self._write("UPDATE messages SET text = ?, reasoning = ? WHERE id = ?", (text, reasoning, message_id))

    def finish_reply(
        self, message_id: int, text: str, reasoning: str = "", *, status: str = "done", error: str | None = None
    ) -> None:
        if status not in STATUSES:
            raise ValueError(f"reply status {status!r} is unknown; use one of {', '.join(STATUSES)}")
        self._write(
            "UPDATE messages SET text = ?, reasoning = ?, status = ?, error = ? WHERE id = ?",
            (text, reasoning, status, error, message_id),
        )

    def messages(self, conversation_id: int) -> list[StoredMessage]:
        rows = self.db.execute(
            "SELECT id, conversation_id, role, text, reasoning, status, error FROM messages"
            " WHERE conversation_id = ? ORDER BY id",
            (conversation_id,),
        ).fetchall()
        found: dict[int, list[AttachmentRecord]] = {}
        for r in self.db.execute(
            "SELECT a.message_id, a.kind, a.path, a.summary, a.count, a.tokens, a.thumbnail, a.id, a.digest"
            " FROM attachments a JOIN messages m ON m.id = a.message_id WHERE m.conversation_id = ?"
            " ORDER BY a.id",
            (conversation_id,),
        ):
            found.setdefault(r[0], []).append(AttachmentRecord(*r[1:]))
        return [
            StoredMessage(mid, cid, role, text, reasoning, status, error, attachments=tuple(found.get(mid, ())))
            for mid, cid, role, text, reasoning, status, error in rows
        ]

    def integrity(self) -> str:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
