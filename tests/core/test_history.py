"""The history store on real SQLite files: round trips, search, delete, migrations, crash status."""

import sqlite3

import pytest

from core.history import VERSION, AttachmentRecord, HistoryStore, SchemaError
from core.history.schema import MIGRATIONS, migrate


@pytest.fixture
def store(tmp_path):
    with HistoryStore(tmp_path / "h.sqlite3") as s:
        yield s


def test_pragmas_are_wal_full_and_current_version(store):
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == VERSION == len(MIGRATIONS)


def test_message_with_attachments_round_trips_across_reopen(tmp_path):
    path = tmp_path / "h.sqlite3"
    with HistoryStore(path) as s:
        cid = s.create_conversation("Paper")
        thumb = b"\x89PNG fake"
        s.add_message(cid, "user", "what is on page 2?",
                      [AttachmentRecord("pdf", "/tmp/a.pdf", "a.pdf, 3 pages", 3, 900, thumb)])
        rid = s.start_reply(cid, model="tiny")
        s.update_reply(rid, "It says", "thinking")
        s.finish_reply(rid, "It says hi.", "thinking", status="done")
    with HistoryStore(path) as s:
        user, reply = s.messages(cid)
        assert (user.role, user.text, reply.text, reply.reasoning, reply.status) == \
            ("user", "what is on page 2?", "It says hi.", "thinking", "done")
        (att,) = user.attachments
        assert (att.kind, att.path, att.count, att.tokens, att.thumbnail) == ("pdf", "/tmp/a.pdf", 3, 900, thumb)
        assert s.integrity() == "ok"


def test_a_reply_left_streaming_reads_back_interrupted(tmp_path):
    path = tmp_path / "h.sqlite3"
    s = HistoryStore(path)
    cid = s.create_conversation()
    rid = s.start_reply(cid)
    s.update_reply(rid, "half a rep")
    s.db.close()  # no finish_reply: as if the app died, and its owner lock with it
    s.owner.close()
    with HistoryStore(path) as again:
        (msg,) = again.messages(cid)
        assert (msg.text, msg.status) == ("half a rep", "interrupted")


def test_search_rename_and_delete_cascades(store):
    a, b = store.create_conversation("Cats"), store.create_conversation("Dogs")
    store.add_message(b, "user", "tell me about 100% wool_socks")
    assert [c.id for c in store.conversations("cat")] == [a]
    assert [c.id for c in store.conversations("WOOL_")] == [b]
    assert [c.id for c in store.conversations("100%")] == [b]
    assert [c.id for c in store.conversations("s_")] == []  # '_' is literal, not a wildcard
    store.rename_conversation(a, "  Kittens ")
    assert store.conversation(a).title == "Kittens"
    store.delete_conversation(b)
    assert [c.id for c in store.conversations()] == [a]
    assert store.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 0


def test_version_one_database_is_migrated_keeping_its_rows(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    db.execute("INSERT INTO conversations (title, created, updated) VALUES ('old', 0, 0)")
    db.execute("INSERT INTO messages (conversation_id, role, text, created) VALUES (1, 'user', 'kept', 0)")
    db.close()
    with HistoryStore(path) as s:
        assert s.db.execute("PRAGMA user_version").fetchone()[0] == VERSION
        assert [m.text for m in s.messages(1)] == ["kept"]
        assert "model" in [r[1] for r in s.db.execute("PRAGMA table_info(messages)")]


def test_a_newer_database_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "new.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {VERSION + 1}")
    with pytest.raises(SchemaError, match="newer than this Spyglass"):
        migrate(db, str(path))
