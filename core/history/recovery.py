"""Opening the history whatever state its file is in, and recovering what a damaged one still holds.

`open_history` never lets a bad file stop the app and never deletes one:
1. a damaged file (SQLite says corrupt or not a database, pages fail `quick_check`, or our tables
   are gone) is moved aside with its -wal/-shm/-journal companions, companions first so a stale
   WAL is never replayed onto the new file, to `<name>.damaged-<YYYYmmdd-HHMMSS>` (with `-2`,
   `-3`… rather than overwrite anything), and a fresh store starts at the path (an empty -shm
   and -wal that SQLite made while reading a WAL-mode file move with it);
2. a folder or another program's database at the path is left exactly as it is (it is not ours
   to move) and the history is kept beside it in `<stem>-2<suffix>` (or -3…), the first such name
   that is free or already Spyglass history, so the next start finds the same file;
3. anything else (a newer schema, a locked or unreadable file) is raised as before.
`read_salvage` then reads what it can from a private copy of the damaged file (the file itself is
never opened for writing) and `restore` adds it to the fresh store under new ids. Written by hand
because Python's sqlite3 reaches neither the CLI's `.recover` nor the sqlite3_recover API, and
`iterdump` stops at the first bad page: each table is scanned in rowid order, and where the scan
fails every rowid is looked up on its own, so only rows on unreadable pages are lost.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from .schema import DamagedError, ForeignFileError
from .store import HistoryStore, _t, _text_factory

COMPANIONS = ("-wal", "-shm", "-journal")
ALTERNATES = 100  # names tried beside a folder or a foreign file
MISSES = 10_000  # consecutive absent rowids that end a probe when max(rowid) cannot be read
COLUMNS = {
    "conversations": ("id", "title", "created", "updated"),
    "messages": ("id", "conversation_id", "role", "text", "reasoning", "status", "error", "created", "model"),
    "attachments": ("message_id", "kind", "path", "summary", "count", "tokens", "thumbnail", "digest"),
}


@dataclass(frozen=True)
class Opened:
    store: HistoryStore
    notice: str = ""  # what happened, for the person; empty when the file opened as it should
    damaged: Path | None = None  # where a damaged file was moved (read_salvage reads it)


@dataclass(frozen=True)
class Salvage:
    """Rows read from a damaged file, as tuples in `COLUMNS` order (missing columns are None)."""

    source: Path
    rows: dict[str, list[tuple]]
    unreadable: dict[str, int]  # table -> rowids that failed to read (-1: the table could not be read at all)


@dataclass(frozen=True)
class Restored:
    conversations: int
    messages: int
    attachments: int
    skipped: int  # rows read but not restorable (their message lost, or values of the wrong type)


def open_history(path: Path) -> Opened:
    """The store at `path`, or the best store that can be opened in its place, with a notice."""
    try:
        return _open_mending(path)
    except ForeignFileError as err:
        for n in range(2, ALTERNATES + 2):
            alternate = path.with_name(f"{path.stem}-{n}{path.suffix}")
            try:
                opened = _open_mending(alternate)
            except ForeignFileError:
                continue
            notice = f"{err}. It was left as it is; history is kept in {alternate} instead."
            return replace(opened, notice=" ".join(filter(None, (notice, opened.notice))))
        raise


def _open_mending(path: Path) -> Opened:
    try:
        return Opened(HistoryStore(path))
    except DamagedError as err:
        aside = move_aside(path)
        notice = (
            f"The history could not be read ({err}). The damaged file was moved to {aside} (nothing was "
            "deleted) and a new, empty history was started; what SQLite can still read of the old one can "
            "be recovered into it."
        )
        return Opened(HistoryStore(path), notice, aside)


def move_aside(path: Path) -> Path:
    """Rename `path` and its companions to the first free `<name>.damaged-<time>[-N]`; returns it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 10_000):
        aside = path.with_name(f"{path.name}.damaged-{stamp}" + (f"-{n}" if n > 1 else ""))
        if any(Path(f"{aside}{end}").exists() for end in ("", *COMPANIONS)):
            continue
        for end in COMPANIONS:  # first, so a crash midway never leaves an old WAL beside a new file
            if Path(f"{path}{end}").exists():
                _rename_new(Path(f"{path}{end}"), Path(f"{aside}{end}"))
        _rename_new(path, aside)
        return aside
    raise FileExistsError(f"no free name to move {path} aside to")


def _rename_new(src: Path, dst: Path) -> None:
    """Rename without ever replacing `dst`: a hard link fails if it exists (plain rename where
    the file system has no hard links; Windows' rename refuses to replace too)."""
    try:
        os.link(src, dst)
    except FileExistsError:
        raise
    except OSError:
        if dst.exists():
            raise FileExistsError(f"{dst} exists") from None
        os.rename(src, dst)
        return
    os.unlink(src)


def read_salvage(damaged: Path) -> Salvage:
    """Every row of our tables that SQLite can still read from `damaged` (blocking: call it off
    the UI thread). Works on a copy, so the damaged file and its WAL are left byte for byte."""
    with tempfile.TemporaryDirectory(prefix="spyglass-recover-") as folder:
        copy = Path(folder) / "copy.sqlite3"
        shutil.copyfile(damaged, copy)
        _mend_size(copy)
        if Path(f"{damaged}-wal").exists():
            shutil.copyfile(f"{damaged}-wal", f"{copy}-wal")
        db = sqlite3.connect(copy, isolation_level=None)
        db.text_factory = _text_factory
        try:
            rows, unreadable = {}, {}
            for table, columns in COLUMNS.items():
                rows[table], unreadable[table] = _read_table(db, table, columns)
        finally:
            db.close()
    return Salvage(damaged, rows, unreadable)


def _mend_size(copy: Path) -> None:
    """A truncated file's header still claims its old page count, and SQLite then refuses the
    whole file: cut the copy to whole pages and write the count it really has (header bytes 28-31;
    SQLite's file format, section 1.3), so the pages that survived can be read and a row that ran
    on past the end fails rather than reading zeros."""
    with open(copy, "r+b") as f:
        header = f.read(100)
        if len(header) < 100 or not header.startswith(b"SQLite format 3\0"):
            return
        page = int.from_bytes(header[16:18], "big")
        page = 65536 if page == 1 else page
        if page < 512 or page & (page - 1):
            return
        size = f.seek(0, os.SEEK_END) // page * page
        f.truncate(size)
        f.seek(28)
        f.write((size // page).to_bytes(4, "big"))


def _read_table(db: sqlite3.Connection, table: str, columns: tuple[str, ...]) -> tuple[list[tuple], int]:
    """(rows, count of rowids that failed): a scan in rowid order, then rowid by rowid if it broke."""
    try:
        present = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
    except sqlite3.DatabaseError:
        return [], -1
    if not present:
        return [], -1
    select = "SELECT rowid, " + ", ".join(c if c in present else "NULL" for c in columns) + f" FROM {table}"
    found: dict[int, tuple] = {}
    try:
        for row in db.execute(select + " ORDER BY rowid"):
            found[row[0]] = row[1:]
        return list(found.values()), 0
    except sqlite3.DatabaseError:
        pass
    try:
        top = db.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0]
    except sqlite3.DatabaseError:
        top = None
    failed: list[int] = []
    misses, rowid = 0, 0
    while (rowid < top) if isinstance(top, int) else (misses < MISSES):
        rowid += 1
        try:
            row = db.execute(select + " WHERE rowid = ?", (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            row = None
            failed.append(rowid)
        misses = 0 if row else misses + 1
        if row:
            found[rowid] = row[1:]
    last = (
        top if isinstance(top, int) else max(found, default=0)
    )  # failures past the last row read are the probe running on
    return [found[k] for k in sorted(found)], sum(1 for r in failed if r < last)


def restore(store: HistoryStore, salvage: Salvage) -> Restored:
    """Add the salvaged rows to `store` in one transaction, under new ids (so nothing collides with
    what was written since); messages whose conversation was lost go into one conversation per
    lost id titled 'Recovered messages'; a reply that was streaming comes back interrupted."""
    convs: dict[object, int] = {}
    msgs: dict[object, int] = {}
    skipped = 0
    db = store.db
    with db:
        db.execute("BEGIN")
        for old, title, created, updated in salvage.rows["conversations"]:
            try:
                convs[old] = _insert(db, "conversations", ("title", "created", "updated"), (title, created, updated))
            except (sqlite3.Error, ValueError, TypeError):
                skipped += 1
        for old, cid, *values in salvage.rows["messages"]:
            if not (isinstance(cid, int) and isinstance(values[0], (str, bytes)) and _is_time(values[5])):
                skipped += 1  # what a broken page can leave: a row of NULLs, or of the wrong types
                continue
            if cid not in convs:
                now = time.time()
                convs[cid] = _insert(
                    db, "conversations", ("title", "created", "updated"), ("Recovered messages", now, now)
                )
            role, text, reasoning, status, error, created, model = values
            status = "interrupted" if status == "streaming" else status
            try:
                msgs[old] = _insert(
                    db,
                    "messages",
                    COLUMNS["messages"][1:],
                    (convs[cid], role, text or "", reasoning or "", status or "done", error, created, model or ""),
                )
            except (sqlite3.Error, ValueError, TypeError):
                skipped += 1
        restored_attachments = 0
        for mid, *values in salvage.rows["attachments"]:
            if mid not in msgs:
                skipped += 1
                continue
            try:
                _insert(db, "attachments", COLUMNS["attachments"], (msgs[mid], *values))
                restored_attachments += 1
            except (sqlite3.Error, ValueError, TypeError):
                skipped += 1
    return Restored(len(convs), len(msgs), restored_attachments, skipped)


def _is_time(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _insert(db: sqlite3.Connection, table: str, columns: tuple[str, ...], values: tuple) -> int:
    """One row; text goes through the store's lossless encoding, NOT NULL columns refuse None."""
    args = tuple(_t(v) if isinstance(v, str) else v for v in values)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    rowid = db.execute(sql, args).lastrowid
    assert rowid is not None
    return rowid
