"""One conversation at a time: commit, ask the engine, stream the reply into view and history.

Order of a send (SPEC: nothing typed is lost): the user's message and its attachments are
committed, then an empty assistant row is started, then the engine is asked. Each batch from the
worker updates that row (one small transaction) and the view; the end sets its status. Parts of
attachments from earlier sessions are re-read from their files in a background job before the
engine sees the conversation; a file that is gone is named to the user and the model.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QObject, Signal

from core.engine import GenerateOptions
from core.history import HistoryStore, StoredMessage
from core.messages import Message, TextPart
from core.model.sampling import SamplingParams
from core.settings import Settings

from app.attachments import Attachment, load_attachment
from app.chat_view import ChatView, ViewMessage
from app.tasks import TaskRunner
from app.worker import EngineThread, ReplyBatch, ReplyFinished, WorkerFailure

STATUS = {"stop": "done", "stop_string": "done", "length": "length", "cancelled": "cancelled", "error": "error"}


def generate_options(settings: Settings) -> GenerateOptions:
    sampled = (settings.temperature, settings.top_p, settings.top_k, settings.seed)
    sampling = None if all(v is None for v in sampled) else SamplingParams(
        temperature=1.0 if settings.temperature is None else settings.temperature, top_k=settings.top_k or 0,
        top_p=settings.top_p or 1.0, seed=settings.seed)
    template = {} if settings.think is None else {"enable_thinking": settings.think}
    return GenerateOptions(sampling=sampling, max_tokens=settings.max_tokens, template_options=template)


def view_message(m: StoredMessage) -> ViewMessage:
    return ViewMessage(m.role, m.text, m.reasoning, m.status, m.error, m.attachments)


class ChatSession(QObject):
    sig_generating = Signal(bool)
    """A reply started (True) or ended (False)."""
    sig_conversation_changed = Signal(object)
    """int: a conversation was created or touched and the list should show it."""
    sig_notice = Signal(str)
    """A message for the user (an error or a note), shown in the status bar and a dialog if serious."""

    def __init__(self, store: HistoryStore, engine: EngineThread, tasks: TaskRunner, view: ChatView,
                 settings: Settings) -> None:
        super().__init__()
        self.store, self.engine, self.tasks, self.view, self.settings = store, engine, tasks, view, settings
        self.conversation_id: int | None = None
        self.parts_cache: dict[str, tuple] = {}
        self.request_id: int | None = None
        self.reply_id: int | None = None
        self.text = self.reasoning = ""
        engine.worker.sig_batch.connect(self._on_batch)
        engine.worker.sig_finished.connect(self._on_finished)
        engine.worker.sig_failed.connect(self._on_failed)

    @property
    def generating(self) -> bool:
        return self.request_id is not None

    def open(self, conversation_id: int | None, notice: str = "") -> None:
        self.conversation_id = conversation_id
        stored = self.store.messages(conversation_id) if conversation_id is not None else []
        self.view.set_messages([view_message(m) for m in stored], notice)

    def send(self, text: str, attachments: list[Attachment], model_name: str) -> None:
        if self.generating:
            return
        if self.conversation_id is None:
            title = (text or (attachments[0].path or attachments[0].kind)).splitlines()[0][:48]
            self.conversation_id = self.store.create_conversation(title)
        for a in attachments:
            self.parts_cache[a.path or a.kind] = a.parts
        records = tuple(a.record() for a in attachments)
        self.store.add_message(self.conversation_id, "user", text, records)
        self.view.append_message(ViewMessage("user", text, attachments=records))
        self.reply_id = self.store.start_reply(self.conversation_id, model_name)
        self.view.append_message(ViewMessage("assistant", status="streaming"))
        self.text = self.reasoning = ""
        self.request_id = -1  # generating; the real id comes once the parts are ready
        self.sig_generating.emit(True)
        self.sig_conversation_changed.emit(self.conversation_id)
        history = self.store.messages(self.conversation_id)[:-1]
        missing = sorted({a.path for m in history for a in m.attachments if a.path and a.path not in self.parts_cache})
        if missing:
            self.tasks.run_task(lambda: self._reread(missing), lambda found: self._ask(history, found),
                                lambda err: self._ask(history, {}))
        else:
            self._ask(history, {})

    def _reread(self, paths: list[str]) -> dict[str, tuple | str]:
        found: dict[str, tuple | str] = {}
        for path in paths:
            try:
                found[path] = load_attachment(path, context_tokens=self.settings.context_tokens).parts
            except (ValueError, OSError) as err:
                found[path] = str(err)
        return found

    def _ask(self, history: list[StoredMessage], found: dict[str, tuple | str]) -> None:
        notes = []
        for path, got in found.items():
            if isinstance(got, str):
                notes.append(f"{path} could not be read again ({got}); the model sees only its name")
                self.parts_cache[path] = (TextPart(f"[attachment {path} is no longer readable]"),)
            else:
                self.parts_cache[path] = got
        for note in notes:
            self.sig_notice.emit(note)
        if self.request_id != -1:  # stopped while the files were read
            return
        messages = [Message.text("system", self.settings.system_prompt)] if self.settings.system_prompt else []
        messages += [self._message(m) for m in history if m.role in ("user", "assistant") and (m.text or m.attachments)]
        self.request_id = self.engine.generate(messages, generate_options(self.settings))

    def _message(self, m: StoredMessage) -> Message:
        parts = [p for a in m.attachments for p in self.parts_cache.get(a.path or a.kind, ())]
        if m.text:
            parts.append(TextPart(m.text))
        return Message(m.role, tuple(parts))

    def stop(self) -> None:
        if self.request_id == -1:
            self._on_finished(ReplyFinished(-1, "cancelled"))
        elif self.request_id is not None:
            self.engine.cancel(self.request_id)

    def _on_batch(self, batch: ReplyBatch) -> None:
        if batch.request_id != self.request_id:
            return
        self.text += batch.text
        self.reasoning += batch.reasoning
        self.store.update_reply(self.reply_id, self.text, self.reasoning)
        self.view.stream(batch.text, batch.reasoning)

    def _on_finished(self, done: ReplyFinished) -> None:
        if done.request_id != self.request_id:
            return
        status = STATUS.get(done.reason, "error")
        self.store.finish_reply(self.reply_id, self.text, self.reasoning,
                                status="done" if status == "length" else status, error=done.error)
        self.view.finish(status, done.error)
        self.request_id = self.reply_id = None
        self.sig_generating.emit(False)

    def _on_failed(self, failure: WorkerFailure) -> None:
        if failure.action == "generate" and failure.request_id == self.request_id:
            self.sig_notice.emit(f"The reply failed: {failure.message}")

    def abandon(self) -> None:
        """The window closes mid-reply: keep what streamed, marked as stopped."""
        if self.reply_id is not None:
            self.store.finish_reply(self.reply_id, self.text, self.reasoning, status="cancelled")
            self.request_id = self.reply_id = None

    def update_settings(self, settings: Settings) -> None:
        self.settings = replace(settings)
