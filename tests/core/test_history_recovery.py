"""Damaged history files on disk: `open_history` moves them aside (never deletes, never overwrites),
starts a fresh store and says so; `read_salvage` + `restore` bring back what SQLite can still read.

Each damaged file is made here from a real store: random bytes, the store truncated, one page
overwritten with random bytes, bits flipped in a page, the current schema version with its tables
dropped, and a folder at the history path.
"""

import random
import sqlite3
from pathlib import Path

import pytest

from core.history import VERSION, AttachmentRecord, HistoryStore, open_history, read_salvage, restore

PAGE = 4096
TEXT = "x" * 300  # a few rows per page, so a damaged page loses only some of them


def real_store(path: Path, conversations: int = 300) -> dict[int, tuple[str, ...]]:
    """A store with a question and an answer per conversation; returns id -> (title, texts...)."""
    made = {}
    with HistoryStore(path) as s:
        for i in range(conversations):
            cid, _ = s.start_conversation(f"chat {i}", "user", f"question {i} {TEXT}",
                                          [AttachmentRecord("image", f"/pics/{i}.png", f"pic {i}", 1)])
            rid = s.start_reply(cid)
            s.finish_reply(rid, f"answer {i} {TEXT}")
            made[cid] = (f"chat {i}", f"question {i} {TEXT}", f"answer {i} {TEXT}")
    return made


def random_bytes(path: Path, rng: random.Random) -> None:
    path.write_bytes(rng.randbytes(50_000))


def truncated(path: Path, rng: random.Random) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10 + 123])  # mid-page, as a crash of a copy leaves it


def page_overwritten(path: Path, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    page = len(data) // PAGE // 2
    data[page * PAGE : (page + 1) * PAGE] = rng.randbytes(PAGE)
    path.write_bytes(bytes(data))


def bits_flipped(path: Path, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    page = len(data) // PAGE // 2
    for offset in range(page * PAGE, page * PAGE + 8):  # the page's b-tree header
        data[offset] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))


def tables_dropped(path: Path, rng: random.Random) -> None:
    db = sqlite3.connect(path)
    db.executescript("DROP TABLE attachments; DROP TABLE messages; DROP TABLE conversations;")
    assert db.execute("PRAGMA user_version").fetchone() == (VERSION,)
    db.close()


DAMAGE = [random_bytes, truncated, page_overwritten, bits_flipped, tables_dropped]


@pytest.mark.parametrize("damage", DAMAGE, ids=[d.__name__ for d in DAMAGE])
def test_a_damaged_file_is_moved_aside_and_a_fresh_store_opens(tmp_path, damage):
    path = tmp_path / "history.sqlite3"
    real_store(path, conversations=60)
    damage(path, random.Random(damage.__name__))
    before = path.read_bytes()
    with pytest.raises(Exception, match="damaged|gone"):  # what an unguarded open meets
        HistoryStore(path).close()
    assert path.read_bytes() == before
    opened = open_history(path)
    with opened.store as store:
        assert opened.damaged is not None and opened.damaged.read_bytes() == before  # moved, byte for byte
        assert opened.damaged.name.startswith("history.sqlite3.damaged-")
        assert str(opened.damaged) in opened.notice and "could not be read" in opened.notice
        assert "nothing was deleted" in opened.notice
        assert store.path == path and store.conversations() == [] and store.integrity() == "ok"
        store.create_conversation("new")  # the fresh store works


@pytest.mark.parametrize("damage", [truncated, page_overwritten, bits_flipped],
                         ids=["truncated", "page_overwritten", "bits_flipped"])
def test_recovery_brings_back_what_sqlite_can_still_read(tmp_path, damage):
    path = tmp_path / "history.sqlite3"
    made = real_store(path)
    damage(path, random.Random(damage.__name__))
    opened = open_history(path)
    before = opened.damaged.read_bytes()
    with opened.store as store:
        kept = store.create_conversation("written after the damage")
        restored = restore(store, read_salvage(opened.damaged))
        got = {c.title: c for c in store.conversations()}
        originals = {v[0]: v for v in made.values()}
        assert "written after the damage" in got and store.conversation(kept).title == "written after the damage"
        recovered = [t for t in got if t in originals]
        texts = {(t, tuple(m.text for m in store.messages(got[t].id))) for t in recovered}
        assert restored.conversations >= len(recovered) >= len(made) // 2  # most of it is back
        assert restored.messages >= len(made)
        for title, messages in texts:  # nothing recovered is garbled
            assert set(messages) <= set(originals[title][1:])
        whole = [t for t, messages in texts if len(messages) == 2]
        assert len(whole) >= len(made) // 3
        assert store.integrity() == "ok"
    assert opened.damaged.read_bytes() == before  # recovery read a copy


def test_a_folder_at_the_history_path_is_left_alone_and_history_kept_beside_it(tmp_path):
    path = tmp_path / "history.sqlite3"
    (path / "inside").mkdir(parents=True)
    opened = open_history(path)
    with opened.store as store:
        assert store.path == tmp_path / "history-2.sqlite3" and opened.damaged is None
        assert f"{path} is a folder" in opened.notice and str(store.path) in opened.notice
        store.create_conversation("kept")
    assert (path / "inside").is_dir()
    again = open_history(path)  # the next start finds the same file
    with again.store as store:
        assert [c.title for c in store.conversations()] == ["kept"]


def test_another_programs_file_at_the_history_path_is_left_alone(tmp_path):
    path = tmp_path / "history.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE foo (x)")
    db.close()
    before = path.read_bytes()
    opened = open_history(path)
    with opened.store as store:
        assert store.path == tmp_path / "history-2.sqlite3" and "not a Spyglass history file" in opened.notice
    assert path.read_bytes() == before


def test_moving_aside_never_overwrites_an_earlier_damaged_file(tmp_path):
    path = tmp_path / "history.sqlite3"
    asides = []
    for i in range(3):  # three damaged files within the same second
        path.write_bytes(random.Random(i).randbytes(10_000))
        opened = open_history(path)
        opened.store.close()
        path.unlink()
        asides.append(opened.damaged)
    assert len(set(asides)) == 3
    assert [a.read_bytes() for a in asides] == [random.Random(i).randbytes(10_000) for i in range(3)]


def test_a_damaged_files_wal_moves_with_it(tmp_path):
    path = tmp_path / "history.sqlite3"
    path.write_bytes(random.Random(0).randbytes(10_000))
    Path(f"{path}-wal").write_bytes(b"old wal")
    opened = open_history(path)
    opened.store.close()
    assert Path(f"{opened.damaged}-wal").read_bytes() == b"old wal"
