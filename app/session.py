"""The window's side of one conversation: core.chat does the work, this wires it to Qt.

`core.chat.Conversation` commits the user's message before any model work, persists the reply as
it streams and records how it ended (SPEC: nothing typed is lost). Here the streamed batches
also reach the view, and the request goes to the engine worker with a `prepare` function, so
re-reading earlier attachments and planning against the engine run on the worker thread, never
the UI's. Notes from preparing (a file gone or changed, parts left out) reach the status bar.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from core.chat import AttachmentCache, Conversation, Prepared, prepare_for
from core.engine import Engine
from core.engine import options_from_settings
from core.history import HistoryStore, StoredMessage
from core.settings import Settings

from app.attachments import Attachment
from app.chat_view import ChatView, ViewMessage
from app.worker import EngineThread, ReplyBatch, ReplyFinished, ReplyNotes, WorkerFailure

def view_message(m: StoredMessage) -> ViewMessage:
    return ViewMessage(m.role, m.text, m.reasoning, m.status, m.error, m.attachments)


class ChatSession(QObject):
    sig_generating = Signal(bool)
    """A reply started (True) or ended (False)."""
    sig_conversation_changed = Signal(object)
    """int: a conversation was created or touched and the list should show it."""
    sig_notice = Signal(str)
    """A message for the user (an error or a note), shown in the status bar and a dialog if serious."""

    def __init__(self, store: HistoryStore, engine: EngineThread, view: ChatView, settings: Settings) -> None:
        super().__init__()
        self.engine, self.view, self.settings = engine, view, settings
        self.cache = AttachmentCache()
        self.chat = Conversation(store, self.cache)
        self.request_id: int | None = None
        engine.worker.sig_batch.connect(self._on_batch)
        engine.worker.sig_finished.connect(self._on_finished)
        engine.worker.sig_failed.connect(self._on_failed)
        engine.worker.sig_notes.connect(self._on_notes)

    @property
    def conversation_id(self) -> int | None:
        return self.chat.conversation_id

    @property
    def generating(self) -> bool:
        return self.request_id is not None

    def open(self, conversation_id: int | None, notice: str = "") -> None:
        self.view.set_messages([view_message(m) for m in self.chat.open(conversation_id)], notice)

    def send(self, text: str, attachments: list[Attachment], model_name: str) -> None:
        if self.generating:
            return
        turn = self.chat.send(text, attachments, model=model_name)
        self.view.append_message(ViewMessage("user", text, attachments=turn.history[-1].attachments))
        self.view.append_message(ViewMessage("assistant", status="streaming"))
        self.sig_generating.emit(True)
        self.sig_conversation_changed.emit(turn.conversation_id)
        options = options_from_settings(self.settings)
        system, cache = self.settings.system_prompt, self.cache

        def build(engine: Engine) -> Prepared:  # runs on the worker thread
            return prepare_for(engine, turn, cache, system_prompt=system, reserve=options.max_tokens)

        self.request_id = self.engine.generate([], options, prepare=build)

    def stop(self) -> None:
        if self.request_id is not None:
            self.engine.cancel(self.request_id)

    def _on_batch(self, batch: ReplyBatch) -> None:
        if batch.request_id != self.request_id:
            return
        self.chat.update_reply(batch.text, batch.reasoning)
        self.view.stream(batch.text, batch.reasoning)

    def _on_finished(self, done: ReplyFinished) -> None:
        if done.request_id != self.request_id:
            return
        status = self.chat.finish_reply(done.reason, done.error)
        self.view.finish("length" if done.reason == "length" else status, done.error)
        self.request_id = None
        self.sig_generating.emit(False)

    def _on_notes(self, notes: ReplyNotes) -> None:
        if notes.request_id == self.request_id:
            for note in notes.notes:
                self.sig_notice.emit(note)

    def _on_failed(self, failure: WorkerFailure) -> None:
        if failure.action == "generate" and failure.request_id == self.request_id:
            self.sig_notice.emit(f"The reply failed: {failure.message}")

    def abandon(self) -> None:
        """The window closes mid-reply: keep what streamed, marked as stopped."""
        if self.request_id is not None:
            self.chat.finish_reply("cancelled")
            self.request_id = None

    def update_settings(self, settings: Settings) -> None:
        self.settings = settings
