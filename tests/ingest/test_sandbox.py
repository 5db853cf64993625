"""The sandbox's child process: a cancelled reading ends silently.

Cancelling is normal (the user removed a chip), so the child must not print a traceback when
the parent has stopped listening. The check runs in a fresh Python process with its stderr piped:
children are forked from a forkserver, which keeps the stderr it was started with, so within
pytest (capfd, xdist) a forkserver started by an earlier test would write elsewhere. The fresh
process starts its own forkserver, whose children then write into our pipe.
"""

import os
import subprocess
import sys
import threading
from pathlib import Path

from core.ingest import Cancelled, ingest_path

from tests.app.files import make_heavy_pdf

ROOT = Path(__file__).resolve().parents[2]


def cancel_a_reading(path: str) -> None:
    """Read `path`, cancelling from the progress of page 2 (the child is then in page 3)."""
    cancel = threading.Event()

    def on_progress(progress):
        if progress.done == 2:
            cancel.set()

    try:
        ingest_path(path, on_progress=on_progress, cancel=cancel)
    except Cancelled as error:
        print(f"cancelled: {error}")


def test_a_cancelled_reading_writes_nothing_to_stderr(tmp_path):
    pdf = make_heavy_pdf(tmp_path / "long.pdf", pages=60)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    code = "import sys; from tests.ingest.test_sandbox import cancel_a_reading; cancel_a_reading(sys.argv[1])"
    run = subprocess.run([sys.executable, "-c", code, str(pdf)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"cancelled: {pdf}: reading was cancelled\n"
    assert run.stderr == ""
