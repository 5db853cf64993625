"""The conversation history: SQLite in WAL mode with synchronous=FULL (SAFETY: History).

Every write is its own committed transaction, so what the user typed is on disk before the
engine sees it, and a streamed reply is rewritten as it arrives (`update_reply`, once per batch
of tokens): a crash or SIGKILL loses at most the batch in flight. A reply left `streaming` reads
back as `interrupted` once the store that streamed it is gone (owner.py: another process's live
reply is left alone). One `HistoryStore` belongs to one thread (the UI thread); other processes
may open the same file. Opening reads before it writes: another program's database is refused
untouched, and a damaged file (bad pages, lost tables) raises DamagedError for recovery.py.
Text is stored losslessly: a string SQLite's UTF-8 cannot take (a lone surrogate, as
`os.fsdecode` makes of a non-UTF-8 file name) is kept as its 'surrogatepass' bytes in a BLOB and
decoded on the way back. No Qt here: thumbnails are PNG bytes made by the caller.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .agent_log import AgentLog
from .owner import OwnerLock, owner_alive
from .schema import APPLICATION_ID, DamagedError, ForeignFileError, check_columns, check_identity, migrate

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


def _t(text: str | None) -> str | bytes | None:
    """`text` as SQLite can take it: itself, or its 'surrogatepass' UTF-8 bytes when it holds a lone
    surrogate (which strict UTF-8 cannot encode)."""
    if text is None or text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")
    return text


def _s(value: str | bytes) -> str:
    """A text column's value as written by `_t`."""
    return value.decode("utf-8", "surrogatepass") if isinstance(value, bytes) else value


def _text_factory(raw: bytes) -> str:
    """TEXT SQLite holds that is not valid UTF-8 (written by another program) still reads, its
    bad bytes kept as surrogates rather than failing the whole query."""
    return raw.decode("utf-8", "surrogateescape")


def is_damage(err: sqlite3.DatabaseError) -> bool:
    """SQLite's own word that the file is not a database or its pages are corrupt."""
    return (getattr(err, "sqlite_errorname", "") or "").startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))


def _inspect(path: Path) -> None:
    """Identity and pages (`quick_check`: every page read once, so the time grows with the file)
    checked through a read-only connection, which can neither write the file nor checkpoint or
    delete a WAL beside it: a file found foreign or damaged is left exactly as it was."""
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
    db.text_factory = _text_factory
    try:
        check_identity(db, str(path))
        problems = [r[0] for r in db.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise DamagedError(f"{path} is damaged: {'; '.join(problems)}")
    finally:
        db.close()


class HistoryStore(AgentLog):
    def __init__(self, path: str | Path):
        self.path = Path(path)
        memory = str(path) == ":memory:"
        if self.path.is_dir():
            raise ForeignFileError(f"{self.path} is a folder, not a history file")
        if not memory:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(":memory:")  # replaced below; here so close() always has one
        self.owner: OwnerLock | None = None
        try:
            if not memory and self.path.is_file() and self.path.stat().st_size > 0:
                _inspect(self.path)
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
            self.db.text_factory = _text_factory
            self._open(memory)
        except sqlite3.DatabaseError as err:
            self.close()
            if is_damage(err):
                raise DamagedError(f"{self.path} is damaged: {err}") from err
            raise
        except BaseException:
            self.close()
            raise

    def _open(self, memory: bool) -> None:
        """Identity checked again (a new file), then WAL, migrations and this store's owner token."""
        check_identity(self.db, str(self.path))
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=ON")
        migrate(self.db, str(self.path))
        check_columns(self.db, str(self.path))
        if self.db.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
            self.db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        self.owner = None if memory else OwnerLock(self.path)
        owners = [r[0] for r in self.db.execute("SELECT DISTINCT owner FROM messages WHERE status = 'streaming'")]
        for owner in owners:
            if memory or not owner_alive(self.path, owner):
                self._write(
                    "UPDATE messages SET status = 'interrupted' WHERE status = 'streaming' AND owner = ?", (owner,)
                )

    def _write(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self.db:  # one committed transaction
            self.db.execute("BEGIN")
            return self.db.execute(sql, args)

    # conversations
    def create_conversation(self, title: str = "New conversation") -> int:
        now = time.time()
        return _inserted_id(
            self._write("INSERT INTO conversations (title, created, updated) VALUES (?, ?, ?)", (_t(title), now, now))
        )

    def start_conversation(
        self, title: str, role: str, text: str, attachments: Iterable[AttachmentRecord] = ()
    ) -> tuple[int, int]:
        """A new conversation and its first message, committed together (a failure leaves neither);
        returns their ids."""
        now = time.time()
        with self.db:
            self.db.execute("BEGIN")
            cid = _inserted_id(
                self.db.execute(
                    "INSERT INTO conversations (title, created, updated) VALUES (?, ?, ?)", (_t(title), now, now)
                )
            )
            return cid, self._insert_message(cid, role, text, attachments, now)

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        self._write(
            "UPDATE conversations SET title = ? WHERE id = ?", (_t(title.strip() or "Untitled"), conversation_id)
        )

    def delete_conversation(self, conversation_id: int) -> None:
        self._write("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def conversation(self, conversation_id: int) -> Conversation | None:
        row = self.db.execute(
            "SELECT id, title, created, updated FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        return Conversation(row[0], _s(row[1]), *row[2:]) if row else None

    def conversations(self, search: str = "") -> list[Conversation]:
        """Newest first; `search` matches titles and message text, case-insensitively."""
        sql = "SELECT id, title, created, updated FROM conversations"
        args: tuple = ()
        if search.strip():
            like = "%" + search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            sql += (
                " WHERE CAST(title AS TEXT) LIKE CAST(? AS TEXT) ESCAPE '\\' OR id IN (SELECT conversation_id"
                " FROM messages WHERE CAST(text AS TEXT) LIKE CAST(? AS TEXT) ESCAPE '\\')"  # text kept as a BLOB by _t
            )
            args = (_t(like), _t(like))
        rows = self.db.execute(sql + " ORDER BY updated DESC, id DESC", args)
        return [Conversation(r[0], _s(r[1]), *r[2:]) for r in rows]

    # messages
    def add_message(
        self, conversation_id: int, role: str, text: str, attachments: Iterable[AttachmentRecord] = ()
    ) -> int:
        """The message and its attachments, committed together before this returns."""
        with self.db:
            self.db.execute("BEGIN")
            return self._insert_message(conversation_id, role, text, attachments, time.time())

    def _insert_message(
        self, conversation_id: int, role: str, text: str, attachments: Iterable[AttachmentRecord], now: float
    ) -> int:
        mid = _inserted_id(
            self.db.execute(
                "INSERT INTO messages (conversation_id, role, text, created) VALUES (?, ?, ?, ?)",
                (conversation_id, _t(role), _t(text), now),
            )
        )
        self.db.executemany(
            "INSERT INTO attachments (message_id, kind, path, summary, count, tokens, thumbnail, digest)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (mid, _t(a.kind), _t(a.path), _t(a.summary), a.count, a.tokens, a.thumbnail, _t(a.digest))
                for a in attachments
            ],
        )
        self.db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
        return mid

    def start_reply(self, conversation_id: int, model: str = "") -> int:
        now = time.time()
        with self.db:
            self.db.execute("BEGIN")
            mid = _inserted_id(
                self.db.execute(
                    "INSERT INTO messages (conversation_id, role, status, model, created, owner)"
                    " VALUES (?, 'assistant', 'streaming', ?, ?, ?)",
                    (conversation_id, _t(model), now, self.owner.token if self.owner else ""),
                )
            )
            self.db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
        return mid

    def update_reply(self, message_id: int, text: str, reasoning: str = "") -> None:
        self._write("UPDATE messages SET text = ?, reasoning = ? WHERE id = ?", (_t(text), _t(reasoning), message_id))

    def finish_reply(
        self, message_id: int, text: str, reasoning: str = "", *, status: str = "done", error: str | None = None
    ) -> None:
        if status not in STATUSES:
            raise ValueError(f"reply status {status!r} is unknown; use one of {', '.join(STATUSES)}")
        self._write(
            "UPDATE messages SET text = ?, reasoning = ?, status = ?, error = ? WHERE id = ?",
            (_t(text), _t(reasoning), status, _t(error), message_id),
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
            mid, kind, path, summary, count, tokens, thumbnail, aid, digest = r
            found.setdefault(mid, []).append(
                AttachmentRecord(_s(kind), path and _s(path), _s(summary), count, tokens, thumbnail, aid, _s(digest))
            )
        return [
            StoredMessage(
                mid,
                cid,
                _s(role),
                _s(text),
                _s(reasoning),
                _s(status),
                error and _s(error),
                attachments=tuple(found.get(mid, ())),
            )
            for mid, cid, role, text, reasoning, status, error in rows
        ]

    def integrity(self) -> str:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        self.db.close()
        if self.owner is not None:
            self.owner.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
