"""Which open store a streaming reply belongs to, and whether that store is still open.

Each `HistoryStore` on a file takes a token (`<pid>-<16 hex digits>`) and holds an exclusive
lock on `<history>.owners/<token>.lock` until it closes; the kernel drops the lock when the
process dies, however it dies. `start_reply` writes the token into the reply's row, so a store
opening the file later interrupts only replies whose owner's lock is free. The locks are
`flock` (per open file, so two stores in one process see each other) or `msvcrt.locking` on
Windows. A token read from the database is used as a file name only when it has that exact form.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from pathlib import Path
from typing import BinaryIO

TOKEN = re.compile(r"[0-9]+-[0-9a-f]{16}")

if sys.platform == "win32":
    import msvcrt

    def _try_lock(f: BinaryIO) -> bool:
        f.seek(0)
        try:
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(f: BinaryIO) -> None:
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(f: BinaryIO) -> bool:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(f: BinaryIO) -> None:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def owners_folder(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".owners")


class OwnerLock:
    """This store's token, locked while the store is open."""

    def __init__(self, db_path: Path) -> None:
        self.token = f"{os.getpid()}-{secrets.token_hex(8)}"
        self.path = owners_folder(db_path) / f"{self.token}.lock"
        self.path.parent.mkdir(exist_ok=True)
        self.file: BinaryIO | None = open(self.path, "w+b")  # noqa: SIM115 - held until close()
        self.file.write(b"\0")  # msvcrt locks bytes that exist
        self.file.flush()
        if not _try_lock(self.file):
            raise OSError(f"{self.path} is locked by another store; a fresh random token's lock should be free")

    def close(self) -> None:
        if self.file is not None:
            _unlock(self.file)
            self.file.close()
            self.file = None
            self.path.unlink(missing_ok=True)


def owner_alive(db_path: Path, token: object) -> bool:
    """Whether the store that wrote `token` still has the file open; a gone owner's lock file is
    removed. Tokens of another form (older rows have '') count as gone."""
    if not isinstance(token, str) or not TOKEN.fullmatch(token):
        return False
    path = owners_folder(db_path) / f"{token}.lock"
    try:
        f = open(path, "r+b")  # noqa: SIM115 - closed below, after the unlink on Windows' terms
    except FileNotFoundError:
        return False
    with f:
        if not _try_lock(f):
            return True
        _unlock(f)
    path.unlink(missing_ok=True)
    return False
