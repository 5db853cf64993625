"""One-shot background jobs (ingesting a file, rendering a cited page) with callbacks (STYLE 10).

`run_task(fn, on_done, on_failed)` runs `fn()` on Qt's global thread pool and calls exactly one
of the callbacks on the UI thread with the result or the error message. `reporter(callback)`
gives a job a thread-safe function for progress: each call is queued to the UI thread, where
`callback` runs. Everything is delivered through slots of a QObject owned by `TaskRunner` on the
UI thread (queued connections), so nothing touches widgets from the pool. `TaskRunner.wait`
lets closeEvent wait for jobs in flight (STYLE 17).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot


class _Relay(QObject):
    sig_done = Signal(object, object)
    """(callback, result): call the success callback on the UI thread."""
    sig_failed = Signal(object, str)
    """(callback, message): call the failure callback on the UI thread."""
    sig_progress = Signal(object, object)
    """(callback, progress): a job reported progress; call its callback on the UI thread."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        for signal in (self.sig_done, self.sig_failed, self.sig_progress):
            signal.connect(self._call)

    @Slot(object, object)
    def _call(self, callback: Callable[[Any], None], value: Any) -> None:
        callback(value)


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], Any], relay: _Relay, on_done, on_failed) -> None:
        super().__init__()
        # Python owns the job, not the pool: a pool deleting the C++ half on its own thread while
        # the Python half is still referenced is a known way for PySide to crash. TaskRunner keeps
        # the job until its callback has run on the UI thread, then lets it go.
        self.setAutoDelete(False)
        self.fn, self.relay, self.on_done, self.on_failed = fn, relay, on_done, on_failed

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as err:  # noqa: BLE001 - every failure reaches the user (STYLE 14)
            self.relay.sig_failed.emit(self.on_failed, str(err) or type(err).__name__)
            return
        self.relay.sig_done.emit(self.on_done, result)


class TaskRunner(QObject):
    def __init__(self, parent: QObject | None = None, pool: QThreadPool | None = None) -> None:
        super().__init__(parent)
        self.pool = pool or QThreadPool.globalInstance()
        self.relay = _Relay(self)
        self._jobs: set[_Job] = set()  # running or awaiting their callback; touched on the UI thread only

    def run_task(self, fn: Callable[[], Any], on_done: Callable[[Any], None],
                 on_failed: Callable[[str], None]) -> None:
        job: _Job

        def done(result: Any) -> None:
            self._jobs.discard(job)
            on_done(result)

        def failed(message: str) -> None:
            self._jobs.discard(job)
            on_failed(message)

        job = _Job(fn, self.relay, done, failed)
        self._jobs.add(job)
        self.pool.start(job)

    def reporter(self, callback: Callable[[Any], None]) -> Callable[[Any], None]:
        """A function any thread may call; `callback(value)` then runs on the UI thread."""
        return lambda value: self.relay.sig_progress.emit(callback, value)

    def wait(self, timeout_ms: int = 30000) -> bool:
        return self.pool.waitForDone(timeout_ms)
