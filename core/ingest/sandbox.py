"""Run one reader in a child process under a time and memory bound.

Native decoders (pdfium, libpng, FFmpeg) can hang, crash or balloon on a hostile file; in a
child process each of those becomes a typed error and the app lives on. The child reports
progress over a pipe; the parent calls it hung once it has been silent for `stall_seconds`
(so a hang surfaces within that time, not at the end of a long file) and stops it after
`total_seconds`. A reader's long step inside `Reporter.working()` sends "alive" four times per
`stall_seconds` instead (a lock keeps its messages whole beside the reader's). Memory is capped
with RLIMIT_AS on Linux, and errors name the cap that applied. Once the parent stops listening (a
cancel, a time bound) the child ends quietly at its next message: that is not an error. Children
are forked from the forkserver of `core/procs.py`, which has preloaded the readers: cheap per
file, safe from a threaded parent (Qt), and neither it nor its children run the parent's
`__main__`, so the memory bound is the reader's, not shared with what a main script imported.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

from core.ingest.errors import Cancelled, DamagedFile, IngestError, ParserCrashed, TimedOut, TooLarge
from core.ingest.limits import Limits
from core.ingest.progress import IngestProgress, Reporter
from core.procs import child_context

_POLL_SECONDS = 0.05
_CANCEL_GRACE_SECONDS = 0.5


def run_bounded(
    reader: Callable,
    args: tuple,
    *,
    path: str,
    limits: Limits,
    on_progress: Callable[[IngestProgress], None] | None = None,
    cancel: threading.Event | None = None,
):
    """`reader(*args, reporter)` in a child process; its return value, or its error re-raised here."""
    ctx = child_context()
    receive, send = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    child = ctx.Process(
        target=_child_main,
        args=(send, stop, limits, reader, args, path),
        daemon=True,
        name=f"spyglass-ingest {path}",
    )
    child.start()
    send.close()
    try:
        return _await_result(receive, child, stop, path=path, limits=limits, on_progress=on_progress, cancel=cancel)
    finally:
        receive.close()
        _reap(child, grace=_CANCEL_GRACE_SECONDS if stop.is_set() else 0.0)


def _await_result(receive, child, stop, *, path, limits, on_progress, cancel):
    started = last_heard = time.monotonic()
    while True:
        if cancel is not None and cancel.is_set():
            stop.set()
            raise Cancelled(path, "reading was cancelled")
        now = time.monotonic()
        if now - last_heard > limits.stall_seconds:
            raise TimedOut(path, f"the reader made no progress for {limits.stall_seconds:g} s and was stopped")
        if now - started > limits.total_seconds:
            raise TimedOut(path, f"reading took longer than {limits.total_seconds:g} s and was stopped")
        if not receive.poll(_POLL_SECONDS):
            continue
        message = _receive(receive, child, path, limits)
        last_heard = time.monotonic()  # any message, "alive" included, shows the reader is working
        if message[0] == "ok":
            return message[1]
        if message[0] == "error":
            raise message[1]
        if message[0] == "progress" and on_progress is not None:
            on_progress(message[1])


def _receive(receive, child, path: str, limits: Limits):
    try:
        return receive.recv()
    except EOFError:
        child.join(1.0)
        raise ParserCrashed(path, f"the reader process died ({_death(child.exitcode, limits)})") from None


def _death(exitcode: int | None, limits: Limits) -> str:
    if exitcode is None:
        return "no exit status"
    if exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = (
            f"; the {_bound(limits.memory_bytes)} or the system's memory ran out" if -exitcode == signal.SIGKILL else ""
        )
        return f"killed by {name}{hint}"
    return f"exit status {exitcode}"


def _reap(child, *, grace: float) -> None:
    child.join(grace)
    if child.is_alive():
        child.kill()
        child.join(2.0)


def _child_main(send, stop, limits: Limits, reader: Callable, args: tuple, path: str) -> None:
    memory_bytes = _limit_memory(limits.memory_bytes)
    lock = threading.Lock()
    reporter = Reporter(
        path,
        on_progress=lambda p: _tell(send, ("progress", p), path, lock),
        cancelled=stop.is_set,
        on_alive=lambda: _tell(send, ("alive",), path, lock),
        alive_every=limits.stall_seconds / 4,
    )
    try:
        outcome = ("ok", reader(*args, reporter))
    except IngestError as error:
        outcome = ("error", error)
    except MemoryError:
        outcome = ("error", TooLarge(path, f"reading it needs more than the {_bound(memory_bytes)}"))
    except Exception as error:  # noqa: BLE001 - any failure of a native decoder becomes a typed error
        outcome = ("error", DamagedFile(path, f"it could not be decoded ({type(error).__name__}: {error})"))
    try:
        _tell(send, outcome, path, lock)
    except Cancelled:
        return  # the parent has already raised its own error (Cancelled or TimedOut): nothing to add
    finally:
        send.close()


def _tell(send, message: tuple, path: str, lock: threading.Lock) -> None:
    """Send `message` to the parent. A closed pipe means the parent cancelled the reading or gave up
    on it, so it stops the reader as a cancel would, instead of printing a BrokenPipeError."""
    try:
        with lock:
            send.send(message)
    except (BrokenPipeError, ConnectionResetError):
        raise Cancelled(path, "the app stopped waiting for this reading") from None


def _limit_memory(memory_bytes: int) -> int | None:
    """Cap this process's address space; the cap that applied (lower where the system's is)."""
    try:
        import resource
    except ImportError:  # Windows: no RLIMIT_AS; the time bound still holds
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    return cap


def _bound(memory_bytes: int | None) -> str:
    if memory_bytes is None:
        return "memory the system allows"
    return f"{memory_bytes / 2**30:.3g} GiB memory bound ({memory_bytes:,} bytes of address space)"
