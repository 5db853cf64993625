"""A writer process killed with SIGKILL mid-stream, 100 times: nothing it committed is lost.

The child opens the store, commits a user message, then streams a reply in small chunks with
`update_reply`, printing what it has committed after each write. The parent kills it at a random
moment and checks the file: every message reported as committed is there, each reply holds at
least the text reported, and `PRAGMA integrity_check` is ok. Kill times are spread over the
child's start-up, its first writes and mid-stream by drawing how many reports to wait for.
"""

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from core.history import HistoryStore

ROOT = Path(__file__).resolve().parents[2]
CHILD = r"""
import sys
from core.history import HistoryStore
store = HistoryStore(sys.argv[1])
cid = store.create_conversation("run " + sys.argv[2])
uid = store.add_message(cid, "user", "question " + sys.argv[2])
print("user", cid, uid, flush=True)
rid = store.start_reply(cid)
text = ""
for i in range(100000):
    text += f"chunk{i} "
    store.update_reply(rid, text)
    print("reply", rid, len(text), flush=True)
"""


def test_sigkill_mid_stream_loses_nothing_committed(tmp_path):
    path = tmp_path / "history.sqlite3"
    rng = random.Random(7)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    committed_users, committed_replies = {}, {}
    for run in range(100):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(run)], stdout=subprocess.PIPE,
                                 text=True, env=env)
        wait_for = rng.choice([0, 1, 2, 5, 20])  # reports to read before the kill (0: during start-up)
        for _ in range(wait_for):
            line = child.stdout.readline().split()
            if line[0] == "user":
                committed_users[int(line[2])] = f"question {run}"
            else:
                committed_replies[int(line[1])] = int(line[2])
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert len(committed_users) > 50 and len(committed_replies) > 30
    with HistoryStore(path) as store:
        assert store.integrity() == "ok"
        rows = {m.id: m for c in store.conversations() for m in store.messages(c.id)}
    for uid, text in committed_users.items():
        assert rows[uid].text == text
    for rid, length in committed_replies.items():
        assert len(rows[rid].text) >= length and rows[rid].status == "interrupted"
