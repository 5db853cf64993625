"""The one thread that owns the engine, and the bounded queue of requests waiting for it.

Engines are not thread-safe and serve one reply at a time, so every generation runs on this
thread, in arrival order. Admission is counted on the event loop's side: a request first
`reserve`s a place (the running reply plus `queue` waiting ones); past that it is refused at
once with 429 and Retry-After, so a flood costs memory for `queue + 1` requests, not for all of
them. Events cross back to the request's event loop through `call_soon_threadsafe` onto the
job's asyncio queue, ending with `END`; an exception from the engine travels the same way as an
item. `cancel` marks a job: one still waiting is skipped when its turn comes, the running one
gets `engine.cancel()` (and again after each event, in case the engine cleared its flag when
the reply began), so it ends at the next token with `Finished("cancelled")`.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from typing import Any

from core.engine.options import GenerateOptions
from core.engine.protocol import Engine
from core.messages import Message

from .errors import ApiError

log = logging.getLogger(__name__)
END = object()  # the last item of every job's events
JOIN_SECONDS = 30.0


class Job:
    """One request's generation: its inputs, its events (read on the event loop), its cancel flag."""

    def __init__(self, messages: list[Message], options: GenerateOptions, loop: asyncio.AbstractEventLoop) -> None:
        self.messages, self.options = messages, options
        self.events: asyncio.Queue[Any] = asyncio.Queue()
        self.cancelled = threading.Event()
        self._loop = loop

    def put(self, item: Any) -> None:
        """From the engine thread: hand `item` to the event loop (dropped if the loop has closed)."""
        try:
            self._loop.call_soon_threadsafe(self.events.put_nowait, item)
        except RuntimeError:  # the loop is closed: the server stopped, no one is listening
            log.debug("an event for a request whose server stopped was dropped")


class EngineWorker:
    """Runs the jobs on one thread; at most `queue` of them wait behind the running one."""

    def __init__(self, engine: Engine, *, queue_size: int) -> None:
        self.engine = engine
        self.limit = queue_size + 1
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._admitted = 0
        self._current: Job | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="spyglass-serve-engine", daemon=True)
        self._thread.start()

    @property
    def admitted(self) -> int:
        """Requests holding a place: the running one and those waiting."""
        with self._lock:
            return self._admitted

    def reserve(self) -> None:
        """Take a place for a request, or raise the 429 saying the queue is full."""
        with self._lock:
            if self._admitted >= self.limit:
                raise ApiError(
                    429,
                    f"the server is busy: {self.limit - 1} requests already wait for its one engine "
                    "(the serve.queue setting); retry shortly",
                    "rate_limit_exceeded",
                )
            self._admitted += 1

    def release(self) -> None:
        """Give back a place taken by `reserve` for a request that never became a job."""
        with self._lock:
            self._admitted -= 1

    def submit(self, messages: list[Message], options: GenerateOptions) -> Job:
        """Queue a generation for a request that holds a place; call from the event loop."""
        job = Job(messages, options, asyncio.get_running_loop())
        self._jobs.put(job)
        return job

    def cancel(self, job: Job) -> None:
        with self._lock:
            job.cancelled.set()
            if self._current is job:
                self.engine.cancel()

    def close(self) -> None:
        """Cancel the running job and every waiting one, stop the thread, wait for it."""
        with self._lock:
            self._closing = True
            if self._current is not None:
                self._current.cancelled.set()
                self.engine.cancel()
        self._jobs.put(None)
        self._thread.join(JOIN_SECONDS)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                self._generate(job)
            finally:
                with self._lock:
                    self._admitted -= 1
                    self._current = None
                job.put(END)

    def _generate(self, job: Job) -> None:
        with self._lock:
            if job.cancelled.is_set() or self._closing:
                return
            self._current = job
        try:
            for event in self.engine.generate(job.messages, job.options):
                job.put(event)
                if job.cancelled.is_set():
                    self.engine.cancel()
        except Exception as err:  # noqa: BLE001 (any engine failure goes to its request, typed)
            job.put(err)
