"""The history store against hostile neighbours and hostile text, on real SQLite files.

Another process streaming a reply keeps it `streaming` while a second store opens the file (a
real child process holds it); lone surrogates (what `os.fsdecode` makes of a non-UTF-8 file
name) round-trip through titles, messages and paths, and a conversation is created together
with its first message; another program's SQLite file is refused before a byte of it changes.
"""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from core.chat import Conversation
from core.chat.attachments import Attachment
from core.history import AttachmentRecord, HistoryStore
from core.history.schema import ForeignFileError

ROOT = Path(__file__).resolve().parents[2]
STREAMER = r"""
import sys
from core.history import HistoryStore
store = HistoryStore(sys.argv[1])
cid = store.create_conversation("live")
rid = store.start_reply(cid)
store.update_reply(rid, "first half")
print(cid, rid, flush=True)
sys.stdin.readline()  # the parent has opened the file: stream more, then end as told
store.update_reply(rid, "first half, second half")
if sys.stdin.readline().strip() == "finish":
    store.finish_reply(rid, "first half, second half.")
    print("finished", flush=True)
    sys.stdin.readline()
"""


def streamer(path: Path) -> tuple[subprocess.Popen, int, int]:
    child = subprocess.Popen(
        [sys.executable, "-c", STREAMER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    cid, rid = map(int, child.stdout.readline().split())
    return child, cid, rid


def status_of(path: Path, rid: int) -> tuple[str, str]:
    with HistoryStore(path) as store:
        (msg,) = [m for c in store.conversations() for m in store.messages(c.id) if m.id == rid]
        return msg.status, msg.text


def test_opening_a_second_store_leaves_another_processs_live_reply_streaming(tmp_path):
    path = tmp_path / "history.sqlite3"
    child, _, rid = streamer(path)
    try:
        assert status_of(path, rid) == ("streaming", "first half")  # the child is alive and streaming
        child.stdin.write("go on\nfinish\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "finished"
        assert status_of(path, rid) == ("done", "first half, second half.")
    finally:
        child.kill()
        child.wait()


def test_a_reply_whose_process_died_reads_back_interrupted(tmp_path):
    path = tmp_path / "history.sqlite3"
    child, _, rid = streamer(path)
    with HistoryStore(path) as watcher:  # open while the child lives: its reply is left alone
        assert watcher.messages(watcher.conversations()[0].id)[0].status == "streaming"
        child.kill()
        child.wait()
        assert status_of(path, rid) == ("interrupted", "first half")
    assert list((tmp_path / "history.sqlite3.owners").iterdir()) == []  # the dead child's lock file is gone


def test_two_stores_in_one_process_see_each_other_alive(tmp_path):
    path = tmp_path / "history.sqlite3"
    with HistoryStore(path) as first:
        rid = first.start_reply(first.create_conversation())
        with HistoryStore(path) as second:
            assert second.messages(1)[0].status == "streaming"
        first.finish_reply(rid, "done.")
    with HistoryStore(path) as again:
        assert again.messages(1)[0].status == "done"


def test_a_hostile_owner_token_is_never_used_as_a_file_name(tmp_path):
    path = tmp_path / "history.sqlite3"
    victim = tmp_path / "victim.lock"
    victim.write_bytes(b"keep me")
    with HistoryStore(path) as store:
        rid = store.start_reply(store.create_conversation())
        store.db.execute("UPDATE messages SET owner = ? WHERE id = ?", ("../victim", rid))
    assert status_of(path, rid)[0] == "interrupted" and victim.read_bytes() == b"keep me"


NAME = os.fsdecode(b"caf\xe9.png")  # 'caf\udce9.png': a Latin-1 file name on a UTF-8 system


def test_lone_surrogates_in_titles_messages_and_paths_round_trip(tmp_path):
    path = tmp_path / "history.sqlite3"
    with HistoryStore(path) as store:
        cid, _ = store.start_conversation(
            "title \ud800", "user", "text \ud800 and é", [AttachmentRecord("image", NAME, f"{NAME}, 1 image", 1)]
        )
        rid = store.start_reply(cid, model="m\udcff")
        store.update_reply(rid, "half \udfff")
        store.finish_reply(rid, "all \udfff", "why \ud800", status="error", error="bad \udce9")
        store.rename_conversation(cid, "renamed \udce9")
    with HistoryStore(path) as store:
        assert store.conversation(cid).title == "renamed \udce9"
        assert [c.id for c in store.conversations("\udce9")] == [cid]
        user, reply = store.messages(cid)
        assert (user.text, user.attachments[0].path, user.attachments[0].summary) == (
            "text \ud800 and é",
            NAME,
            f"{NAME}, 1 image",
        )
        assert (reply.text, reply.reasoning, reply.error) == ("all \udfff", "why \ud800", "bad \udce9")
        assert os.fsencode(user.attachments[0].path) == b"caf\xe9.png"  # the file can be found again
        assert store.integrity() == "ok"


def test_a_first_message_with_an_undecodable_file_name_keeps_its_conversation(tmp_path):
    with HistoryStore(tmp_path / "history.sqlite3") as store:
        chat = Conversation(store)
        turn = chat.send("look at this", [Attachment("image", NAME, "one image", 1, ())])
        assert [c.title for c in store.conversations()] == ["look at this"]
        assert store.messages(turn.conversation_id)[0].attachments[0].path == NAME


def test_a_failing_first_message_leaves_no_empty_conversation(tmp_path):
    with HistoryStore(tmp_path / "history.sqlite3") as store:
        bad = AttachmentRecord("image", "/a.png", thumbnail=object())  # not bytes: SQLite refuses it
        with pytest.raises(sqlite3.ProgrammingError):
            store.start_conversation("t", "user", "x", [bad])
        assert store.conversations() == [] and store.db.execute("SELECT COUNT(*) FROM messages").fetchone() == (0,)


def foreign_file(path: Path, script: str) -> bytes:
    db = sqlite3.connect(path)
    db.executescript(script)
    db.close()
    return path.read_bytes()


@pytest.mark.parametrize(
    "script",
    [
        "CREATE TABLE foo (x); INSERT INTO foo VALUES (1);",
        "PRAGMA application_id = 42; CREATE TABLE conversations (x);",
        "CREATE TABLE messages (x); PRAGMA user_version = 0;",
        "CREATE TABLE conversations (id); CREATE TABLE messages (id); CREATE TABLE attachments (id);"
        " CREATE TABLE foo (x); PRAGMA user_version = 3;",
    ],
    ids=["table-foo", "application-id", "version-0-with-a-table-of-ours", "our-tables-and-theirs"],
)
def test_another_programs_database_is_refused_before_anything_is_written(tmp_path, script):
    path = tmp_path / "theirs.db"
    before = foreign_file(path, script)
    with pytest.raises(ForeignFileError, match="is not a Spyglass history file") as caught:
        HistoryStore(path)
    assert str(path) in str(caught.value) and "left untouched" in str(caught.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs.db"]  # no -wal, -shm or owner lock
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    db.close()


def test_an_old_spyglass_file_without_an_application_id_still_opens(tmp_path):
    from core.history.schema import APPLICATION_ID, MIGRATIONS

    path = tmp_path / "old.sqlite3"
    foreign_file(path, MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    with HistoryStore(path) as store:
        assert store.db.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
