"""The remote engine against llama-cpp-python's real OpenAI-compatible server running the tiny
MiniMax-M3 GGUF with its vision projector: models listed, a streamed greedy reply, images sent as
data URIs that change the reply, cancel from another thread, and usage (this server sends none
in the stream, so the engine estimates it and says so)."""

import threading

import numpy as np
import pytest

from core.engine import GREEDY, EngineError, GenerateOptions
from core.engine.remote import RemoteEngine
from core.events import Finished, ReasoningDelta, TextDelta, Usage
from core.messages import ImagePart, Message, Source, TextPart
from core.settings import RemoteSettings

HELLO = [Message.text("user", "the quick brown fox")]


@pytest.fixture(scope="module")
def engine(llama_server):
    eng = RemoteEngine(RemoteSettings(base_url=llama_server.url), api_key=llama_server.key, context_tokens=2048)
    eng.load()
    yield eng
    eng.close()


def reply_text(events):
    return "".join(e.text for e in events if isinstance(e, (TextDelta, ReasoningDelta)))


def image(seed: int) -> ImagePart:
    pixels = np.random.default_rng(seed).integers(0, 256, (56, 56, 3), dtype=np.uint8)
    return ImagePart(pixels, Source("file", path=f"/pictures/{seed}.png"))


def test_it_loads_the_servers_only_model_and_describes_itself(engine, llama_server):
    info = engine.info()
    assert engine.models == [llama_server.model] and engine.state == "ready"
    assert (info.backend, info.model, info.context_tokens) == ("remote", llama_server.model, 2048)
    assert info.media.image_tokens(56, 56) == 4 and info.media.video_tokens(3, 28, 28) == 3


def test_a_greedy_reply_streams_and_repeats(engine, caplog):
    options = GenerateOptions(sampling=GREEDY, max_tokens=8)
    with caplog.at_level("INFO", logger="core.engine.remote"):
        first = list(engine.generate(HELLO, options))
    second = list(engine.generate(HELLO, options))
    assert first[-1] == Finished("length") and reply_text(first) and reply_text(first) == reply_text(second)
    usage = next(e for e in first if isinstance(e, Usage))
    # an estimate: one a chunk that carried text (a token decoding to nothing sends none)
    assert 1 <= usage.completion_tokens <= 8 and usage.prompt_tokens == engine.count_tokens(HELLO)
    assert "sent no usage; estimated" in caplog.text


def test_an_image_reaches_the_model(engine):
    options = GenerateOptions(sampling=GREEDY, max_tokens=12)
    ask = lambda seed: [Message("user", (image(seed), TextPart("what is this?")))]  # noqa: E731
    a, a_again, b = (reply_text(engine.generate(ask(s), options)) for s in (1, 1, 2))
    text_only = reply_text(engine.generate([Message.text("user", "what is this?")], options))
    assert a == a_again and a != b and text_only not in (a, b)


def test_cancel_from_another_thread_ends_the_reply(engine):
    seen = []
    for event in engine.generate(HELLO, GenerateOptions(sampling=GREEDY, max_tokens=1500)):
        seen.append(event)
        if len(seen) == 2:
            threading.Thread(target=engine.cancel).start()
    assert seen[-1] == Finished("cancelled")
    assert next(e for e in seen if isinstance(e, Usage)).completion_tokens < 1500
    assert engine.state == "ready"
    assert list(engine.generate(HELLO, GenerateOptions(sampling=GREEDY, max_tokens=2)))[-1] == Finished("length")


def test_a_wrong_key_and_an_unknown_model_are_load_errors_naming_the_server(llama_server):
    wrong = RemoteEngine(RemoteSettings(base_url=llama_server.url, retries=0), api_key="sk-wrong")
    with pytest.raises(EngineError, match="refused the API key"):
        wrong.load()
    assert wrong.state == "failed" and llama_server.url in wrong.error
    unknown = RemoteEngine(RemoteSettings(base_url=llama_server.url, model="gpt-9"), api_key=llama_server.key)
    with pytest.raises(EngineError, match=f"{llama_server.url} has no model 'gpt-9'; it lists {llama_server.model}"):
        unknown.load()
