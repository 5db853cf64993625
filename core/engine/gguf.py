"""A quantized GGUF model through llama.cpp (llama-cpp-python), behind the Engine protocol.

llama.cpp aborts the whole process on some bad input, so the model lives in a supervised child
(`gguf_child.py`, started from `core/procs.py`'s forkserver, the one ingestion uses): a crash,
an abort or a kill of the child becomes `Finished("error", …)` naming the file, the engine goes
to `failed`, and the app keeps running; a new engine starts a fresh child. Before the child
starts, the file is checked here: it must exist, begin with the GGUF magic, and fit in the memory
that is free (both sizes are named). `cancel`
sets an Event the child checks between tokens. Flash attention is on unless the settings say
otherwise: MiniMax-M3's sparse attention runs only with it (without it llama.cpp silently runs
dense attention and its logits leave the model's). Images and video frames go through the
model's vision projector: the `gguf.mmproj` setting, else the one `mmproj*.gguf` beside the model
(`find_projector`). With one, the engine's media plan (`ProjectorPlan`) asks the child what an
image of a given size costs; without one it has no plan, so the planner leaves media out and
says so, and a prompt holding them is refused. `gguf.host_tensors` keeps the tensors whose names
match its patterns in host memory (MoE experts on the CPU while the rest is on the GPU).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from core.events import Event, Finished, LoadProgress
from core.messages import Message
from core.procs import child_context
from core.settings import GgufSettings, Settings
from core.vision.sizes import check_input_size

from .gguf_child import ChildParams, main
from .options import GenerateOptions
from .protocol import ContextTooLongError, EngineBase, EngineError, EngineInfo

log = logging.getLogger(__name__)
MAGIC = b"GGUF"
POLL_SECONDS = 0.1


def from_settings(settings: Settings) -> GgufEngine:
    """The registry's factory: the model location, the context and the `gguf` section."""
    assert settings.model_dir is not None  # the registry chose this backend for a location
    return GgufEngine(
        Path(settings.model_dir).expanduser(), settings=settings.gguf, context_tokens=settings.context_tokens
    )


def is_projector(path: Path) -> bool:
    return path.name.lower().startswith("mmproj")


def find_model(location: Path) -> Path:
    """The model file: `location` itself, or the one non-projector .gguf file in a folder."""
    if location.is_file():
        return location
    if not location.is_dir():
        raise EngineError(f"{location} does not exist")
    found = sorted(p for p in location.glob("*.gguf") if not is_projector(p))
    if len(found) != 1:
        what = "no .gguf model" if not found else f"{len(found)} .gguf models ({', '.join(p.name for p in found)})"
        raise EngineError(f"{location} holds {what}; choose the model file itself")
    return found[0]


def find_projector(model: Path, chosen: str | None) -> Path | None:
    """The vision projector: the chosen file, else the one `mmproj*.gguf` beside the model."""
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_file():
            raise EngineError(f"the projector {path} (gguf.mmproj) does not exist")
        return path
    found = sorted(p for p in model.parent.glob("*.gguf") if is_projector(p))
    if len(found) > 1:
        raise EngineError(
            f"{model.parent} holds {len(found)} projectors ({', '.join(p.name for p in found)}); "
            "choose one in Settings (gguf.mmproj)"
        )
    return found[0] if found else None


def host_patterns(text: str | None) -> tuple[str, ...]:
    """`gguf.host_tensors` as its comma-separated regular expressions, each checked."""
    patterns = tuple(p.strip() for p in (text or "").split(",") if p.strip())
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as err:
            raise EngineError(f"gguf.host_tensors: {pattern!r} is not a regular expression ({err})") from None
    return patterns


def detect(location: Path) -> str | None:
    """Why this backend can run `location` (the registry's detector), or None."""
    if location.is_file() and location.suffix.lower() == ".gguf" and not is_projector(location):
        return "a .gguf file"
    if location.is_dir() and any(not is_projector(p) for p in location.glob("*.gguf")):
        return "the folder holds a .gguf model"
    return None


def available_memory() -> int | None:
    """Bytes of memory free for a new process (Linux MemAvailable; elsewhere free pages)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_file(path: Path, *, free: int | None, projector: Path | None = None) -> None:
    """Refuse, before llama.cpp sees them, files that are not GGUF or do not fit in memory."""
    for file in (path, projector) if projector else (path,):
        with open(file, "rb") as f:
            head = f.read(4)
        if head != MAGIC:
            raise EngineError(f"{file} is not a GGUF file (it starts with {head!r}, not {MAGIC!r})")
    size = path.stat().st_size
    extra = projector.stat().st_size if projector else 0
    if free is not None and size + extra > free:
        what = f"{path} is {_size(size)}" + (f" and its projector {_size(extra)}" if extra else "")
        raise EngineError(
            f"{what} but only {_size(free)} of memory is free; close "
            "other programs or choose a smaller (more quantized) model"
        )


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n:,} bytes"


class ChildGone(Exception):
    """The llama.cpp process ended without answering."""


class ProjectorPlan:
    """The media plan of a model with a projector: the child tokenizes a blank image of each size
    once (llama.cpp's own preprocessing decides the count), and a video costs its frames, each an
    image after a time stamp."""

    min_video_frames = 2

    def __init__(self, ask: Callable[[int, int, int], int]) -> None:
        self._ask = ask
        self._known: dict[tuple[int, int, int], int] = {}

    def image_tokens(self, height: int, width: int) -> int:
        return self._tokens(0, height, width)

    def video_tokens(self, frames: int, height: int, width: int) -> int:
        if frames < 1:
            raise ValueError("the video has no frames")
        return frames * self._tokens(1, height, width)  # frames cost alike: one question per size

    def _tokens(self, frames: int, height: int, width: int) -> int:
        check_input_size(height, width, 200_000_000)
        key = (frames, height, width)
        if key not in self._known:
            self._known[key] = self._ask(frames, height, width)
        return self._known[key]


class GgufEngine(EngineBase):
    def __init__(self, location: str | Path, *, settings: GgufSettings = GgufSettings(), context_tokens: int = 4096):
        self.location, self.settings, self.context_tokens = Path(location), settings, context_tokens
        self.state: str = "idle"
        self.error: str | None = None
        self.path: Path | None = None
        self.projector: Path | None = None
        self.host_tensors = 0  # tensors llama.cpp kept in host memory for gguf.host_tensors
        self._info: EngineInfo | None = None
        self._proc: Any = None
        self._conn: Any = None
        self._plans: Any = None  # a second pipe, for media plans asked from any thread at any time
        self._plans_lock = threading.Lock()
        self._cancel: Any = None

    def load(self, on_progress: Callable[[LoadProgress], None] | None = None) -> None:
        if self.state != "idle":
            raise EngineError(f"the engine is {self.state}; load it once, from idle")
        self.state = "loading"
        try:
            self.path = find_model(self.location)
            self.projector = find_projector(self.path, self.settings.mmproj)
            check_file(self.path, free=available_memory(), projector=self.projector)
            self._start(host_patterns(self.settings.host_tensors))
            self._wait_loaded(on_progress)
        except (EngineError, OSError, ChildGone) as err:
            self._stop()
            self.state, self.error = "failed", str(err)
            raise EngineError(str(err)) from None
        self.state = "ready"
        log.info("loaded %s in llama.cpp (pid %s)", self.path, self._proc.pid)

    def _start(self, host_tensors: tuple[str, ...]) -> None:
        assert self.path is not None
        s = self.settings
        params = ChildParams(
            str(self.path),
            self.context_tokens,
            s.gpu_layers,
            s.threads,
            True if s.flash_attn is None else s.flash_attn,
            s.mmap,
            s.mlock,
            str(self.projector) if self.projector else None,
            host_tensors,
        )
        ctx = child_context()
        self._conn, child = ctx.Pipe()
        self._plans, child_plans = ctx.Pipe()
        self._cancel = ctx.Event()
        self._proc = ctx.Process(
            target=main, args=(child, child_plans, self._cancel, params), name="spyglass-llama.cpp", daemon=True
        )
        self._proc.start()
        child.close()
        child_plans.close()

    def _wait_loaded(self, on_progress: Callable[[LoadProgress], None] | None) -> None:
        while True:
            kind, payload = self._recv()
            if kind == "progress" and on_progress:
                on_progress(payload)
            elif kind == "error":
                raise EngineError(payload)
            elif kind == "loaded":
                assert self.path is not None
                name = payload["name"] or self.path.stem
                plan = ProjectorPlan(self._media_tokens) if payload["vision"] else None
                self._info = EngineInfo("gguf", name, payload["context"], plan)
                self.host_tensors = payload["host_tensors"]
                if self.settings.host_tensors:
                    log.info("gguf.host_tensors kept %d tensors in host memory", self.host_tensors)
                return

    def _recv(self, conn: Any = None) -> tuple:
        """The child's next message; `ChildGone` (naming the file and how it ended) if it died."""
        conn = conn or self._conn
        proc = self._proc
        while not conn.poll(POLL_SECONDS):
            if not proc.is_alive() and not conn.poll():
                raise ChildGone(self._death(proc))
        try:
            return conn.recv()
        except (EOFError, OSError):
            proc.join(1)
            raise ChildGone(self._death(proc)) from None

    def _death(self, proc: Any) -> str:
        code = proc.exitcode
        how = f"exited with status {code}"
        if code is not None and code < 0:
            how = f"was killed by signal {-code}"
            with contextlib.suppress(ValueError):
                how += f" ({signal.Signals(-code).name})"
        return f"llama.cpp stopped while running {self.path}: its process {how}"

    def info(self) -> EngineInfo:
        self._require_ready()
        assert self._info is not None
        return self._info

    def count_tokens(self, messages: list[Message], options: GenerateOptions = GenerateOptions()) -> int:
        self._require_ready()
        kind, payload = self._ask(("count", messages, options))
        if kind != "count":
            raise ValueError(payload)
        return int(payload)

    def _media_tokens(self, frames: int, height: int, width: int) -> int:
        """Asked on the plans pipe, which the child answers from a thread of its own: a chip's
        estimate in the window does not wait for a reply that is streaming."""
        with self._plans_lock:
            if self.state != "ready":
                raise ValueError(f"the engine is {self.state}")
            try:
                self._plans.send((frames, height, width))
                kind, payload = self._recv(self._plans)
            except (ChildGone, OSError) as err:
                raise ValueError(str(err)) from None
        if kind != "plan":
            raise ValueError(payload)
        return int(payload)

    def generate(self, messages: list[Message], options: GenerateOptions = GenerateOptions()) -> Iterator[Event]:
        """Events of the reply; `ContextTooLongError` (before any work) when the prompt does not fit."""
        self._require_ready()
        self._cancel.clear()
        kind, payload = self._ask(("generate", messages, options))
        if kind == "refused":
            raise ContextTooLongError(payload)
        if kind == "error":
            raise ValueError(payload)
        return self._stream()

    def _ask(self, request: tuple) -> tuple:
        try:
            self._conn.send(request)
            return self._recv()
        except (ChildGone, OSError) as err:
            self._fail(str(err))
            raise EngineError(str(err)) from None

    def _stream(self) -> Iterator[Event]:
        while True:
            try:
                kind, payload = self._recv()
            except ChildGone as err:
                self._fail(str(err))
                yield Finished("error", str(err))
                return
            if kind == "error":
                yield Finished("error", payload)
                return
            yield from payload
            if payload and isinstance(payload[-1], Finished):
                return

    def _fail(self, message: str) -> None:
        log.error("%s", message)
        self.state, self.error = "failed", message
        self._stop()

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    def close(self) -> None:
        self.cancel()  # a reply still streaming ends at its next token
        if self._proc is not None and self._proc.is_alive():
            with contextlib.suppress(OSError):
                self._conn.send(("close",))
        self._stop()
        self.state = "closed"

    def _stop(self) -> None:
        """End the child (politely, then by force) and free its memory."""
        if self._proc is not None:
            self._proc.join(5)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(5)
        if self._conn is not None:
            self._conn.close()
        with self._plans_lock:
            if self._plans is not None:
                self._plans.close()
            self._proc = self._conn = self._plans = None
