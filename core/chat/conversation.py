"""The conversation, outside any UI: history to messages, committing, and the reply as it streams.

Every front end (the window, `spyglass chat`, later the agent and the server) talks to a model
through a `Conversation` over a `HistoryStore` (a file, or SQLite's `:memory:` for a terminal
chat), so the rules live once (SPEC: nothing typed is lost):
1. `send` commits the user's message and its attachments, then an empty assistant row, before
   any model work, and returns the `Turn` to answer;
2. `prepare` (blocking, off the UI thread: it may re-read files) turns the turn's history into
   messages for one engine: earlier attachments come from the content-keyed cache or are read
   again, and every message is planned against the engine's context and media plan, newest
   first, so what does not fit is named in `notes` rather than cut silently;
3. `update_reply` rewrites the reply row as text arrives; `finish_reply` sets how it ended.
`reply` runs all three in one thread for front ends that have no event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from core.engine.options import GenerateOptions
from core.engine.protocol import ContextTooLongError, Engine, EngineInfo
from core.events import Event, Finished, ReasoningDelta, TextDelta
from core.history import HistoryStore, StoredMessage
from core.ingest import PlanError, plan_parts
from core.ingest.planner import approx_text_tokens
from core.messages import Message, TextPart

from .attachments import Attachment, AttachmentCache

STATUS = {"stop": "done", "stop_string": "done", "length": "done", "cancelled": "cancelled", "error": "error"}
TITLE_CHARS = 48


@dataclass(frozen=True)
class Turn:
    conversation_id: int
    reply_id: int
    history: tuple[StoredMessage, ...]  # up to and including the new user message


@dataclass(frozen=True)
class Prepared:
    messages: tuple[Message, ...]
    notes: tuple[str, ...]  # for the person: files read again or gone, parts left out


class Conversation:
    """One conversation in `store` (created by the first `send` when `conversation_id` is None)."""

    def __init__(
        self, store: HistoryStore, cache: AttachmentCache | None = None, *, conversation_id: int | None = None
    ) -> None:
        self.store, self.cache = store, cache or AttachmentCache()
        self.conversation_id = conversation_id
        self.reply_id: int | None = None
        self.text = self.reasoning = ""

    def open(self, conversation_id: int | None) -> list[StoredMessage]:
        self.conversation_id, self.reply_id = conversation_id, None
        return self.messages()

    def messages(self) -> list[StoredMessage]:
        return self.store.messages(self.conversation_id) if self.conversation_id is not None else []

    def send(self, text: str, attachments: Sequence[Attachment] = (), *, model: str = "") -> Turn:
        """Commit the user's message and an empty reply row; returns the turn to answer."""
        records = tuple(a.record() for a in attachments)
        if self.conversation_id is None:  # created with its first message, so a failure leaves no empty one
            first = text.strip() or (attachments[0].path or attachments[0].kind if attachments else "")
            title = (first.splitlines() or ["New conversation"])[0][:TITLE_CHARS]
            self.conversation_id, _ = self.store.start_conversation(title, "user", text, records)
        else:
            self.store.add_message(self.conversation_id, "user", text, records)
        for att in attachments:
            self.cache.put(att)
        history = tuple(self.store.messages(self.conversation_id))
        self.reply_id = self.store.start_reply(self.conversation_id, model)
        self.text = self.reasoning = ""
        return Turn(self.conversation_id, self.reply_id, history)

    def update_reply(self, text: str = "", reasoning: str = "") -> None:
        """Append streamed text and reasoning to the reply, on disk before this returns."""
        if self.reply_id is None:
            return
        self.text += text
        self.reasoning += reasoning
        self.store.update_reply(self.reply_id, self.text, self.reasoning)

    def finish_reply(self, reason: str, error: str | None = None) -> str:
        """Record how the reply ended (a `Finished` reason); returns the stored status."""
        status = STATUS.get(reason, "error")
        if self.reply_id is not None:
            self.store.finish_reply(self.reply_id, self.text, self.reasoning, status=status, error=error)
            self.reply_id = None
        return status

    def reply(
        self,
        engine: Engine,
        options: GenerateOptions,
        turn: Turn,
        *,
        system_prompt: str = "",
        on_notes: Callable[[tuple[str, ...]], None] | None = None,
    ) -> Iterator[Event]:
        """Prepare, generate and persist in this thread; yields the engine's events. A prompt the
        engine refuses (too long, unreadable) is recorded as the reply's error and raised."""
        try:
            prepared = prepare_for(engine, turn, self.cache, system_prompt=system_prompt, reserve=options.max_tokens)
            if on_notes and prepared.notes:
                on_notes(prepared.notes)
            stream = engine.generate(list(prepared.messages), options)
        except ValueError as err:
            self.finish_reply("error", str(err))
            raise
        finished: Finished | None = None
        try:
            for event in stream:
                if isinstance(event, TextDelta):
                    self.update_reply(text=event.text)
                elif isinstance(event, ReasoningDelta):
                    self.update_reply(reasoning=event.text)
                elif isinstance(event, Finished):
                    finished = event
                yield event
            if finished is None:
                finished = Finished("error", "the engine ended the reply without saying why")
        finally:  # a consumer that stops early (Ctrl-C, closed generator) leaves it cancelled
            finished = finished or Finished("cancelled")
            self.finish_reply(finished.reason, finished.error)


def text_counter(engine: Engine) -> Callable[[str], int]:
    """The engine's own token count of a piece of text: the count of a user message holding it,
    less that of an empty one (the template's framing)."""
    base = engine.count_tokens([Message.text("user", "")])
    return lambda text: max(0, engine.count_tokens([Message.text("user", text)]) - base)


def prepare_for(
    engine: Engine, turn: Turn, cache: AttachmentCache, *, system_prompt: str = "", reserve: int = 0
) -> Prepared:
    """`prepare` against a loaded engine: its context, its media plan and its own text count.
    Call it where the engine lives (the worker thread)."""
    return prepare(
        turn, cache, engine.info(), system_prompt=system_prompt, reserve=reserve, count_text=text_counter(engine)
    )


def prepare(
    turn: Turn,
    cache: AttachmentCache,
    info: EngineInfo,
    *,
    system_prompt: str = "",
    reserve: int = 0,
    count_text: Callable[[str], int] = approx_text_tokens,
) -> Prepared:
    """The messages one engine is asked to answer (blocking: it may read files). `reserve`
    tokens are kept free for the reply (at most a quarter of the context)."""
    notes: list[str] = []
    messages = [Message.text("system", system_prompt)] if system_prompt else []
    for m in _answerable(turn.history):
        messages.append(_message(m, cache, notes))
    budget = info.context_tokens - min(reserve, info.context_tokens // 4)
    planned: list[Message] = []
    for i, message in reversed(list(enumerate(messages))):
        try:
            plan = plan_parts(
                message.parts, context_tokens=max(budget, 1), media=info.media, count_text_tokens=count_text
            )
        except PlanError:
            raise ContextTooLongError(
                f"the conversation needs more than the {info.context_tokens}-token context even without its "
                f"attachments (message {i + 1} of {len(messages)} does not fit); start a new conversation or "
                "raise the context"
            ) from None
        budget -= plan.tokens
        notes.extend(plan.omitted)
        planned.append(Message(message.role, plan.parts))
    return Prepared(tuple(reversed(planned)), tuple(notes))


def _answerable(history: tuple[StoredMessage, ...]) -> list[StoredMessage]:
    """The messages the model sees: a user message whose reply failed before any text (say, it did
    not fit the context) stays in the history for the person but is not sent again."""
    out: list[StoredMessage] = []
    for i, m in enumerate(history):
        reply = history[i + 1] if i + 1 < len(history) else None
        failed = reply is not None and reply.role == "assistant" and reply.status == "error" and not reply.text
        if m.role not in ("user", "assistant") or not (m.text or m.attachments) or (m.role == "user" and failed):
            continue
        out.append(m)
    return out


def _message(m: StoredMessage, cache: AttachmentCache, notes: list[str]) -> Message:
    parts: list = []
    for record in m.attachments:
        got, note = cache.parts(record)
        parts.extend(got)
        if note:
            notes.append(note)
    if m.text:
        parts.append(TextPart(m.text))
    return Message(m.role, tuple(parts))
