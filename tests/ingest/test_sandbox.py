"""The sandbox's child process: a cancelled reading ends silently; a long step inside
`Reporter.working` is not a hang, though the total time bound still holds; the child runs
without the parent's main script (no torch), so the memory bound is what the reader gets.

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

import pytest

from core.ingest import Cancelled, Limits, TimedOut, ingest_path
from core.ingest.sandbox import run_bounded
from tests.app.files import make_heavy_pdf
from tests.ingest.readers import busy_without_progress

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


def test_a_long_step_inside_working_is_not_mistaken_for_a_hang():
    limits = Limits(stall_seconds=2)  # the step below takes three times as long, without progress
    assert run_bounded(busy_without_progress, (6.0,), path="x.bin", limits=limits) == "finished"


def test_the_total_time_bound_still_holds_inside_working():
    with pytest.raises(TimedOut, match=r"x\.bin: reading took longer than 3 s"):
        run_bounded(busy_without_progress, (600.0,), path="x.bin", limits=Limits(stall_seconds=2, total_seconds=3))


PARENT_SCRIPT = """
import sys
import torch  # a parent whose main script imports torch, as a notebook or a tool might
from core.ingest import Limits
from core.ingest.sandbox import run_bounded
from tests.ingest.readers import modules_and_memory

if __name__ == "__main__":
    print(run_bounded(modules_and_memory, (), path="x.bin", limits=Limits(memory_bytes=2 << 30)))
"""


def test_the_reader_child_loads_no_torch_and_gets_its_whole_memory_bound(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "(False, True)\n"  # no torch in the child; 1 GiB fits in its 2 GiB bound
