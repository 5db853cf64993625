"""core.chat without Qt: commit before generating, the reply persisted as it streams, earlier
attachments re-read lazily and cached by content, planning against the engine's own media plan,
and a failed turn that does not poison the next one. Real SQLite, real ingestion, the example
engine and a scripted engine through the Engine protocol."""

import threading

import numpy as np
import pytest
from PIL import Image

from core.chat import AttachmentCache, Conversation, prepare, read_attachment
from core.engine import EngineInfo, GenerateOptions
from core.engine.protocol import ContextTooLongError
from core.events import Finished, TextDelta, Usage
from core.history import HistoryStore
from core.messages import ImagePart, TextPart
from core.vision.sizes import M3MediaPlan

from tests.app.files import make_image, make_pdf

M3_INFO = EngineInfo("test", "test", 4096, M3MediaPlan())


class ScriptedEngine:
    """Streams `words`; records what it was asked; `gate` holds the stream after the first word."""

    def __init__(self, words=("Hello", " there"), info=M3_INFO, gate: threading.Event | None = None):
        self.words, self._info, self.gate, self.state, self.error = words, info, gate, "ready", None
        self.asked: list = []

    def info(self):
        return self._info

    def count_tokens(self, messages, options=None):
        return sum(len(p.text.split()) + 1 for m in messages for p in m.parts if isinstance(p, TextPart))

    def generate(self, messages, options=None):
        self.asked.append(messages)
        return self._stream()

    def _stream(self):
        for i, w in enumerate(self.words):
            yield TextDelta(w)
            if i == 0 and self.gate is not None:
                self.gate.wait(10)
        yield Usage(1, len(self.words))
        yield Finished("stop")

    def cancel(self):
        pass


@pytest.fixture
def store(tmp_path):
    with HistoryStore(tmp_path / "h.sqlite3") as s:
        yield s


def test_the_message_is_committed_before_generation_and_the_reply_as_it_streams(store, tmp_path):
    chat = Conversation(store)
    turn = chat.send("hi there")
    assert [(m.role, m.text, m.status) for m in store.messages(turn.conversation_id)] == \
        [("user", "hi there", "done"), ("assistant", "", "streaming")]
    stream = chat.reply(ScriptedEngine(), GenerateOptions(), turn)
    next(stream)  # the first word
    other = HistoryStore(tmp_path / "h.sqlite3")  # another reader sees it on disk already
    assert other.messages(turn.conversation_id)[-1].text == "Hello"
    list(stream)
    assert other.messages(turn.conversation_id)[-1].text == "Hello there"
    assert other.messages(turn.conversation_id)[-1].status == "done"
    other.close()


def test_a_reply_abandoned_midway_is_kept_as_cancelled(store):
    chat = Conversation(store)
    turn = chat.send("tell me")
    stream = chat.reply(ScriptedEngine(words=("one", " two", " three")), GenerateOptions(), turn)
    next(stream)
    stream.close()  # Ctrl-C in a terminal, a closed window
    reply = store.messages(turn.conversation_id)[-1]
    assert (reply.text, reply.status) == ("one", "cancelled")


def test_earlier_attachments_are_re_read_by_content_and_a_changed_file_is_named(store, tmp_path):
    pdf = make_pdf(tmp_path / "paper.pdf")
    reads = []
    cache = AttachmentCache(reader=lambda p: reads.append(p) or __import__("core.ingest").ingest.ingest_path(p))
    att = read_attachment(pdf)
    copy = tmp_path / "copy.pdf"
    copy.write_bytes(pdf.read_bytes())
    chat = Conversation(store, cache)
    turn = chat.send("summarise", [att])
    chat.finish_reply("stop")
    fresh = AttachmentCache(reader=cache.reader)  # a later session: nothing cached
    later = Conversation(store, fresh, conversation_id=turn.conversation_id)
    second = later.send("and page 2?")
    prepared = prepare(second, fresh, M3_INFO)
    assert reads == [str(pdf)] and prepared.notes == ()
    assert any(isinstance(p, TextPart) and "cat on a mat" in p.text for p in prepared.messages[0].parts)
    assert fresh.get(att.digest) is not None  # now cached under the file's content
    assert read_attachment(copy).digest == att.digest  # same bytes, same entry, whatever the path
    prepare(second, fresh, M3_INFO)
    assert reads == [str(pdf)]  # served from the cache
    make_pdf(pdf, pages=("Rewritten.",))  # the file changes on disk
    stale = AttachmentCache(reader=cache.reader)
    notes = prepare(second, stale, M3_INFO).notes
    assert notes == (f"{pdf} changed since it was attached; the model sees what it holds now",)
    pdf.unlink()
    gone = prepare(second, AttachmentCache(), M3_INFO)
    assert "could not be read again" in gone.notes[0]
    assert gone.messages[0].parts[0].text == f"[attachment {pdf} is no longer readable]"


def test_planning_uses_the_engines_media_plan(store, tmp_path):
    photo = read_attachment(make_image(tmp_path / "photo.png", size=(1920, 1080)))
    chat = Conversation(store)
    turn = chat.send("what is it?", [photo])
    m3 = prepare(turn, chat.cache, M3_INFO)
    assert m3.notes == () and isinstance(m3.messages[0].parts[0], ImagePart)
    assert m3.messages[0].parts[0].pixels.shape == (1080, 1920, 3)  # not resized: the engine does that
    text_only = prepare(turn, chat.cache, EngineInfo("t", "t", 4096, None))
    assert [type(p) for p in text_only.messages[0].parts] == [TextPart]
    assert text_only.notes == ("photo.png: image left out (the model reads no images or videos)",)
    small = prepare(turn, chat.cache, EngineInfo("t", "t", 600, M3MediaPlan()), reserve=100)
    assert small.notes == ("photo.png: image left out (over the context of 500 tokens)",)


def test_a_turn_that_did_not_fit_is_kept_but_not_sent_again(store):
    chat = Conversation(store)
    tiny = EngineInfo("t", "t", 8, None)
    turn = chat.send("word " * 40)
    with pytest.raises(ContextTooLongError, match="more than the 8-token context"):
        list(chat.reply(ScriptedEngine(info=tiny), GenerateOptions(max_tokens=1), turn))
    failed = store.messages(turn.conversation_id)[-1]
    assert failed.status == "error" and "8-token context" in failed.error
    engine = ScriptedEngine(info=tiny)
    list(chat.reply(engine, GenerateOptions(max_tokens=1), chat.send("short")))
    assert [[p.text for p in m.parts] for m in engine.asked[0]] == [["short"]]
    assert [m.text for m in store.messages(turn.conversation_id)][:1] == ["word " * 40]  # nothing lost


def test_text_is_counted_by_the_engine_itself(store):
    from core.chat import prepare_for, text_counter

    engine = ScriptedEngine(info=EngineInfo("t", "t", 15, None))
    assert text_counter(engine)("a b c d") == 4  # the engine's count less an empty message's
    chat = Conversation(store)
    turn = chat.send("x " * 20)  # 20 tokens for this engine; a len/4 guess would say 11
    assert prepare(turn, chat.cache, engine.info()).messages  # the guess fits in 15
    with pytest.raises(ContextTooLongError, match="15-token context"):
        prepare_for(engine, turn, chat.cache)  # the engine's own count does not


def test_an_in_memory_history_serves_a_terminal_chat():
    with HistoryStore(":memory:") as memory:
        chat = Conversation(memory)
        engine = ScriptedEngine()
        for text in ("one", "two"):
            list(chat.reply(engine, GenerateOptions(), chat.send(text), system_prompt="Be brief."))
        assert [(m.role, [p.text for p in m.parts]) for m in engine.asked[-1]] == [
            ("system", ["Be brief."]), ("user", ["one"]), ("assistant", ["Hello there"]), ("user", ["two"])]


def test_the_cache_keeps_its_byte_bound(tmp_path):
    cache = AttachmentCache(max_bytes=3 * 100 * 100 * 3)
    atts = []
    for i in range(5):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.full((100, 100, 3), i * 40, np.uint8)).save(path)
        atts.append(read_attachment(path))
        cache.put(atts[-1])
    assert [cache.get(a.digest) is not None for a in atts] == [False, False, True, True, True]
