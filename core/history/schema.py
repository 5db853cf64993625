"""The history database's schema as a list of migrations, applied in order on open.

The schema version is SQLite's `user_version`; migration N moves a database from version N to
N + 1 inside one transaction, so a crash mid-migration leaves the old version intact. A database
newer than this code is refused rather than guessed at. Attachments keep their metadata, the
source path and a small thumbnail (PNG bytes made by the caller), never the file itself.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: conversations, messages and their attachments
    """
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL,
        created REAL NOT NULL,
        updated REAL NOT NULL
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        text TEXT NOT NULL DEFAULT '',
        reasoning TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'done',
        error TEXT,
        created REAL NOT NULL
    );
    CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
    CREATE TABLE attachments (
        id INTEGER PRIMARY KEY,
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        path TEXT,
        summary TEXT NOT NULL DEFAULT '',
        count INTEGER NOT NULL DEFAULT 0,
        tokens INTEGER NOT NULL DEFAULT 0,
        thumbnail BLOB
    );
    CREATE INDEX attachments_by_message ON attachments(message_id);
    """,
    # 1 -> 2: which model answered, for showing and for later filtering
    """
    ALTER TABLE messages ADD COLUMN model TEXT NOT NULL DEFAULT '';
    """,
    # 2 -> 3: the attached file's content digest, so a re-read is cached by content, not by path
    """
    ALTER TABLE attachments ADD COLUMN digest TEXT NOT NULL DEFAULT '';
    """,
    # 3 -> 4: which open store streams a reply (store.py: a reply is interrupted only once its owner is gone)
    """
    ALTER TABLE messages ADD COLUMN owner TEXT NOT NULL DEFAULT '';
    """,
    # 4 -> 5: computer-use tasks and every step of them (SAFETY: every executed action is logged)
    """
    CREATE TABLE agent_tasks (
        id INTEGER PRIMARY KEY,
        task TEXT NOT NULL,
        model TEXT NOT NULL DEFAULT '',
        started REAL NOT NULL,
        ended REAL,
        ending TEXT NOT NULL DEFAULT 'running',
        message TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE agent_steps (
        id INTEGER PRIMARY KEY,
        task_id INTEGER NOT NULL REFERENCES agent_tasks(id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        time REAL NOT NULL,
        screenshot_id TEXT NOT NULL,
        action TEXT NOT NULL DEFAULT '',
        verdict TEXT NOT NULL DEFAULT '',
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        thumbnail BLOB,
        UNIQUE (task_id, step)
    );
    """,
)
VERSION = len(MIGRATIONS)
APPLICATION_ID = 0x53707967  # "Spyg" in SQLite's header, set on every history file this code opens
TABLES = ("conversations", "messages", "attachments")
AGENT_TABLES = ("agent_tasks", "agent_steps")  # from version 5
COLUMNS = {  # at VERSION
    "conversations": {"id", "title", "created", "updated"},
    "messages": {"id", "conversation_id", "role", "text", "reasoning", "status", "error", "created", "model", "owner"},
    "attachments": {"id", "message_id", "kind", "path", "summary", "count", "tokens", "thumbnail", "digest"},
    "agent_tasks": {"id", "task", "model", "started", "ended", "ending", "message"},
    "agent_steps": {
        "id",
        "task_id",
        "step",
        "time",
        "screenshot_id",
        "action",
        "verdict",
        "outcome",
        "detail",
        "thumbnail",
    },
}


class SchemaError(RuntimeError):
    """The database was written by a newer Spyglass, or a migration failed."""


class ForeignFileError(SchemaError):
    """The file is an SQLite database of another program: refused before anything is written to it."""


class DamagedError(SchemaError):
    """The file claims to be Spyglass history but its tables or pages are broken (see recovery.py)."""


def check_identity(db: sqlite3.Connection, path: str) -> None:
    """Refuse a file that is not Spyglass history, reading only: another program's application_id,
    or tables of its own (an old Spyglass file has application_id 0 and only our tables); and
    report a history file whose tables are gone as damaged. A new, empty file passes."""
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables = {t for t in tables if not t.startswith("sqlite_")}
    theirs = sorted(tables - set(TABLES) - set(AGENT_TABLES))
    if app_id not in (0, APPLICATION_ID) or app_id == 0 and (theirs or version == 0 and tables):
        raise ForeignFileError(
            f"{path} is not a Spyglass history file (an SQLite database of another program: application_id "
            f"{app_id:#x}, tables {', '.join(sorted(tables)) or 'none'}); it was left untouched. Move it away "
            "or point SPYGLASS_DATA_DIR elsewhere"
        )
    missing = [t for t in TABLES + (AGENT_TABLES if version >= 5 else ()) if t not in tables]
    if 0 < version <= VERSION and missing:
        raise DamagedError(f"{path} is history schema version {version} but its tables {', '.join(missing)} are gone")


def check_columns(db: sqlite3.Connection, path: str) -> None:
    """After migrating: every table has the columns this code reads, or the file is damaged."""
    for table, wanted in COLUMNS.items():
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        if wanted - have:
            raise DamagedError(f"{path}: table {table} lacks the columns {', '.join(sorted(wanted - have))}")


def migrate(db: sqlite3.Connection, path: str) -> int:
    """Bring `db` to `VERSION`; returns the version it had before."""
    found = db.execute("PRAGMA user_version").fetchone()[0]
    if found > VERSION:
        raise SchemaError(
            f"{path} has history schema version {found}, newer than this Spyglass knows "
            f"({VERSION}); update Spyglass or point SPYGLASS_DATA_DIR elsewhere"
        )
    for version in range(found, VERSION):
        try:
            db.execute("BEGIN IMMEDIATE")
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {version + 1}")
            db.execute("COMMIT")
        except sqlite3.Error as err:
            db.execute("ROLLBACK")
            raise SchemaError(f"{path}: migrating history from version {version} failed: {err}") from err
    return found
