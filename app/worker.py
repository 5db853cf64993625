"""The engine worker: one long-lived QObject on its own QThread that owns the engine (STYLE 10).

The UI never calls the engine except `cancel` (thread-safe). It asks by signal (`EngineThread`
emits, the worker's slots run on the worker thread): load a model from a factory, generate a
reply. Streamed deltas are gathered and sent back in batches about every 30 ms, so a fast model
cannot flood the event loop. Every exception in the worker becomes `sig_failed` with a message
for the user. A cancel that arrives before its request starts is remembered by request id,
because the engine clears its own flag when a generation begins. A request may carry a
`prepare` function instead of messages: the worker calls it with the engine (core.chat's
`prepare_for`: re-reading earlier attachments and planning with this engine's context, media plan
and token count), so that
work too stays off the UI thread; its notes come back as `sig_notes`.

An agent task (`AgentRequest`) runs here too, on the thread that owns the engine, so chat and the
agent can never use the engine at once: while a task runs, chat requests wait in the queue (the
window refuses to send them) and a task waits behind a streaming reply (the window refuses to start
it). Each Step comes back as `sig_agent_step`, the ending as `sig_agent_ended`. The thread is
blocked for the task's length, waiting on the model, the executor or the user's answer; the UI
reaches the task only through its `AgentHandle` (stop) and its consent object (answers).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QThread, Signal, Slot

from app.agent_handle import AgentHandle
from core.agent.steps import Step, TaskEnded
from core.chat import Prepared
from core.engine import Engine, EngineError, EngineInfo, GenerateOptions
from core.events import Finished, MalformedToolCall, ReasoningDelta, TextDelta, ToolCall, Usage
from core.messages import Message

BATCH_SECONDS = 0.03


Preparer = Callable[[Engine], Prepared]


@dataclass(frozen=True)
class ReplyRequest:
    request_id: int
    messages: tuple[Message, ...]
    options: GenerateOptions
    prepare: Preparer | None = None  # builds the messages on the worker thread instead


@dataclass(frozen=True)
class AgentRequest:
    request_id: int
    task: str
    handle: AgentHandle  # builds the Agent over this worker's engine and lets the UI stop it


@dataclass(frozen=True)
class AgentProgress:
    request_id: int
    step: Step  # a new step, or a step seen before (same index) that changed


@dataclass(frozen=True)
class AgentEnded:
    request_id: int
    ended: TaskEnded


@dataclass(frozen=True)
class ReplyNotes:
    request_id: int
    notes: tuple[str, ...]  # what preparing the messages found: files gone or changed, parts left out


@dataclass(frozen=True)
class ReplyBatch:
    request_id: int
    text: str  # new answer text since the last batch
    reasoning: str = ""  # new reasoning text since the last batch


@dataclass(frozen=True)
class ReplyFinished:
    request_id: int
    reason: str  # a Finished reason: stop, stop_string, length, cancelled, error
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class WorkerFailure:
    action: str  # "load", "generate", "agent"
    message: str  # shown to the user as it is
    request_id: int | None = None


@dataclass(frozen=True)
class EngineStatus:
    state: str  # none, loading, ready, failed, closed
    detail: str = ""  # the model name, or the reason it failed
    info: EngineInfo | None = None  # with "ready": the engine's context and media plan


EngineFactory = Callable[[], Engine]


def describe(err: BaseException) -> str:
    """Our own errors carry a message for the user; anything else also names its type."""
    if isinstance(err, (ValueError, OSError, EngineError)) and str(err):
        return str(err)
    return f"{type(err).__name__}: {err}"


class EngineWorker(QObject):
    sig_status = Signal(object)
    """EngineStatus: the engine moved to another state."""
    sig_load_progress = Signal(object)
    """LoadProgress: one more part of the model is loaded."""
    sig_batch = Signal(object)
    """ReplyBatch: text and reasoning that arrived in the last ~30 ms."""
    sig_finished = Signal(object)
    """ReplyFinished: the reply ended (also after a failure, with reason "error")."""
    sig_failed = Signal(object)
    """WorkerFailure: an exception in the worker, as a message for the user."""
    sig_notes = Signal(object)
    """ReplyNotes: what preparing a request's messages left out or could not read."""
    sig_agent_step = Signal(object)
    """AgentProgress: an agent step was proposed or changed (executed, denied, ...)."""
    sig_agent_ended = Signal(object)
    """AgentEnded: the agent task ended (also after a failure, with ending "error")."""

    def __init__(self) -> None:
        super().__init__()
        self.engine: Engine | None = None
        self._cancelled_upto = -1  # request ids up to this one are cancelled (an int store is atomic)

    @Slot(object, str)
    def load(self, factory: EngineFactory, name: str) -> None:
        self.close_engine()
        self.sig_status.emit(EngineStatus("loading", name))
        try:
            engine = factory()
            self.engine = engine
            engine.load(on_progress=self.sig_load_progress.emit)
            info = engine.info()
        except Exception as err:  # noqa: BLE001 - every failure is shown (STYLE 14)
            reason = describe(err)
            self.sig_failed.emit(WorkerFailure("load", f"The model {name} could not be loaded: {reason}"))
            self.sig_status.emit(EngineStatus("failed", reason))
            return
        self.sig_status.emit(EngineStatus("ready", name, info))

    @Slot(object)
    def generate(self, request: ReplyRequest) -> None:
        rid = request.request_id
        if rid <= self._cancelled_upto:
            self.sig_finished.emit(ReplyFinished(rid, "cancelled"))
            return
        try:
            if self.engine is None or self.engine.state != "ready":
                raise RuntimeError("no model is loaded; choose a model folder in Settings")
            messages = list(request.messages)
            if request.prepare is not None:
                prepared = request.prepare(self.engine)
                messages = list(prepared.messages)
                if prepared.notes:
                    self.sig_notes.emit(ReplyNotes(rid, prepared.notes))
            stream = self.engine.generate(messages, request.options)
            if rid <= self._cancelled_upto:  # cancelled while the request was being prepared
                self.engine.cancel()
            self.sig_finished.emit(self._drain(rid, stream))
        except Exception as err:  # noqa: BLE001 - every failure is shown (STYLE 14)
            message = describe(err)
            self.sig_failed.emit(WorkerFailure("generate", message, rid))
            self.sig_finished.emit(ReplyFinished(rid, "error", message))

    @Slot(object)
    def run_agent(self, request: AgentRequest) -> None:
        rid, steps = request.request_id, 0
        try:
            if request.handle.stopped:
                self.sig_agent_ended.emit(AgentEnded(rid, TaskEnded("stopped", "stopped before it began", 0)))
                return
            if self.engine is None or self.engine.state != "ready":
                raise RuntimeError("no model is loaded; choose a model folder in Settings")
            agent = request.handle.attach(self.engine)
            for item in agent.run(request.task):
                if isinstance(item, TaskEnded):
                    self.sig_agent_ended.emit(AgentEnded(rid, item))
                else:
                    steps = max(steps, item.index)
                    self.sig_agent_step.emit(AgentProgress(rid, item))
        except Exception as err:  # noqa: BLE001 - every failure is shown (STYLE 14)
            message = describe(err)
            self.sig_failed.emit(WorkerFailure("agent", message, rid))
            self.sig_agent_ended.emit(AgentEnded(rid, TaskEnded("error", message, steps)))
        finally:
            request.handle.finish()

    def _drain(self, rid: int, stream) -> ReplyFinished:
        text, reasoning, last = [], [], time.monotonic()
        done, usage = ReplyFinished(rid, "error", "the engine ended the reply without saying why"), None
        for event in stream:
            if isinstance(event, TextDelta):
                text.append(event.text)
            elif isinstance(event, ReasoningDelta):
                reasoning.append(event.text)
            elif isinstance(event, ToolCall):
                text.append(f"\n\n`tool call: {event.name} {event.arguments}` (not run)\n\n")
            elif isinstance(event, MalformedToolCall):
                text.append(f"\n\n`malformed tool call (not run): {event.raw}`\n\n")
            elif isinstance(event, Usage):
                usage = event
            elif isinstance(event, Finished):
                done = ReplyFinished(rid, event.reason, event.error)
            now = time.monotonic()
            if (text or reasoning) and now - last >= BATCH_SECONDS:
                self.sig_batch.emit(ReplyBatch(rid, "".join(text), "".join(reasoning)))
                text, reasoning, last = [], [], now
        if text or reasoning:
            self.sig_batch.emit(ReplyBatch(rid, "".join(text), "".join(reasoning)))
        if usage is not None:
            done = ReplyFinished(rid, done.reason, done.error, usage.prompt_tokens, usage.completion_tokens)
        return done

    def cancel(self, request_id: int) -> None:
        """Called from the UI thread: stop `request_id` (and any earlier one) at the next token."""
        self._cancelled_upto = max(self._cancelled_upto, request_id)
        engine = self.engine
        if engine is not None:
            engine.cancel()

    def close_engine(self) -> None:
        engine, self.engine = self.engine, None
        if engine is not None:
            engine.close()
            self.sig_status.emit(EngineStatus("closed"))


class EngineThread(QObject):
    """The UI side: owns the worker thread, forwards requests by signal, stops and waits on exit."""

    sig_load_requested = Signal(object, str)
    """(EngineFactory, model name): replace the engine with a newly loaded one."""
    sig_generate_requested = Signal(object)
    """ReplyRequest: stream a reply."""
    sig_agent_requested = Signal(object)
    """AgentRequest: run an agent task with the engine."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("spyglass-engine")
        self.worker = EngineWorker()
        self.worker.moveToThread(self.thread)
        self.sig_load_requested.connect(self.worker.load)
        self.sig_generate_requested.connect(self.worker.generate)
        self.sig_agent_requested.connect(self.worker.run_agent)
        self._next_id = 0
        self.thread.start()

    def load(self, factory: EngineFactory, name: str) -> None:
        self.sig_load_requested.emit(factory, name)

    def generate(self, messages: list[Message], options: GenerateOptions, *, prepare: Preparer | None = None) -> int:
        """Ask for a reply to `messages` (or to what `prepare` builds on the worker thread)."""
        self._next_id += 1
        self.sig_generate_requested.emit(ReplyRequest(self._next_id, tuple(messages), options, prepare))
        return self._next_id

    def run_agent(self, task: str, handle: AgentHandle) -> int:
        """Run an agent task on the worker thread; stop it through `handle`."""
        self._next_id += 1
        self.sig_agent_requested.emit(AgentRequest(self._next_id, task, handle))
        return self._next_id

    def cancel(self, request_id: int | None = None) -> None:
        self.worker.cancel(self._next_id if request_id is None else request_id)

    def stop(self, timeout_ms: int = 30000) -> bool:
        """Cancel what runs, end the thread, wait for it, then close the engine; False on timeout."""
        if not self.thread.isRunning():
            return True
        self.worker.cancel(self._next_id)
        self.thread.quit()
        if not self.thread.wait(timeout_ms):
            return False
        self.worker.close_engine()
        return True
