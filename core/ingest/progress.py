"""What a reader returns and how it reports while it works.

`Ingested` is the result of reading one file; `IngestProgress` is one progress event. A reader
receives a `Reporter`, calls `progress` after each page or frame and `check` before costly
steps; both raise `Cancelled` once the cancel flag is set, so cancellation lands between pages.
A step that cannot report from inside (Pillow decoding one large image) runs in `working()`:
a thread says "still working" every `alive_every` seconds meanwhile, so the sandbox does not take
it for a hang; only a step whose cost the limits bound before it starts belongs there, since the
sandbox's total time bound is then all that stops it.
The same reader code runs in the sandbox's child process (progress travels over a pipe) and in
process (benchmarks, tests), since only the two callables differ.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from core.ingest.errors import Cancelled


@dataclass(frozen=True)
class IngestProgress:
    done: int
    total: int
    what: str  # e.g. "page 3 of 200"


@dataclass(frozen=True)
class Ingested:
    parts: tuple  # TextPart / ImagePart / VideoPart in reading order
    kind: str  # "pdf" | "image" | "video"
    summary: str  # e.g. "12 pages", "1 image 1920x1080", "42 frames over 41.0 s"
    path: str


class Reporter:
    """Progress out, cancellation in, for one file."""

    def __init__(
        self,
        path: str,
        on_progress: Callable[[IngestProgress], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        on_alive: Callable[[], None] | None = None,
        alive_every: float = 1.0,
    ) -> None:
        self.path = path
        self._on_progress = on_progress
        self._cancelled = cancelled
        self._on_alive = on_alive
        self._alive_every = alive_every

    def check(self) -> None:
        if self._cancelled is not None and self._cancelled():
            raise Cancelled(self.path, "reading was cancelled")

    def progress(self, done: int, total: int, what: str) -> None:
        self.check()
        if self._on_progress is not None:
            self._on_progress(IngestProgress(done, total, what))

    @contextmanager
    def working(self) -> Iterator[None]:
        """Around one long step without progress of its own: `on_alive` is called meanwhile."""
        if self._on_alive is None:
            yield
            return
        done = threading.Event()
        beat = threading.Thread(target=self._beat, args=(done,), name=f"alive {self.path}", daemon=True)
        beat.start()
        try:
            yield
        finally:
            done.set()
            beat.join()

    def _beat(self, done: threading.Event) -> None:
        while not done.wait(self._alive_every):
            try:
                self._on_alive()  # type: ignore[misc]
            except Cancelled:
                return  # the parent stopped listening; the step ends at its next check
