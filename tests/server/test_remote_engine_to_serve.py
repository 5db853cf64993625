"""Our two ends of the protocol against each other: the remote engine (core/engine/remote.py)
talking to `spyglass serve` (core/server) over loopback, both real, with a scripted engine
behind the server. What the engine behind says is what the remote engine streams: text,
reasoning, tool calls, usage, the finish; images travel as data URIs and arrive as the same
pixels; cancel ends the far generation; the server's token is the remote engine's API key."""

import threading

import numpy as np
import pytest

from core.engine import GREEDY, EngineError, GenerateOptions
from core.engine.remote import RemoteEngine
from core.events import Finished, ReasoningDelta, TextDelta, ToolCall, Usage
from core.messages import ImagePart, Message, Source, TextPart
from core.server import create_app
from core.settings import Settings
from tests.server.fake_engine import FakeEngine
from tests.server.harness import TOKEN, running


def remote(url, token=TOKEN):
    eng = RemoteEngine(base_url=url + "/v1", api_key=token, context_tokens=4096)
    eng.load()
    return eng


def scripted(*events):
    return FakeEngine(lambda messages, options: list(events))


def test_what_the_far_engine_says_is_what_the_remote_engine_streams():
    far = scripted(ReasoningDelta("thinking it over"), TextDelta("It is "), TextDelta("sunny."),
                   ToolCall("get_weather", {"city": "Oslo", "days": 2}))
    with running(create_app(far, settings=Settings(), token=TOKEN)) as url:
        eng = remote(url)
        assert eng.info().backend == "remote" and eng.info().model == "fake-model"
        tools = ({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},)
        events = list(eng.generate([Message.text("user", "weather?")], GenerateOptions(max_tokens=50, tools=tools)))
        eng.close()
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "thinking it over"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "It is sunny."
    assert [e for e in events if isinstance(e, ToolCall)] == [ToolCall("get_weather", {"city": "Oslo", "days": 2})]
    usage = next(e for e in events if isinstance(e, Usage))
    assert (usage.prompt_tokens, usage.completion_tokens) == (1, 4)  # the far engine's own counts
    assert events[-1] == Finished("stop")
    (messages, options), = far.requests
    assert options.tools[0]["function"]["name"] == "get_weather"


def test_an_image_crosses_as_the_same_pixels_and_max_tokens_ends_in_length():
    far = FakeEngine()
    pixels = np.random.default_rng(3).integers(0, 256, (30, 41, 3), dtype=np.uint8)
    message = Message("user", (TextPart("look:"), ImagePart(pixels, Source("file", "a.png")), TextPart("what?")))
    with running(create_app(far, settings=Settings(), token=TOKEN)) as url:
        eng = remote(url)
        events = list(eng.generate([message], GenerateOptions(sampling=GREEDY, max_tokens=1)))
        eng.close()
    assert events[-1] == Finished("length")
    (got, options), = far.requests
    parts = got[-1].parts
    assert [type(p).__name__ for p in parts] == ["TextPart", "ImagePart", "TextPart"]
    assert np.array_equal(parts[1].pixels, pixels)
    assert options.max_tokens == 1 and options.sampling.temperature == 0


def test_cancel_ends_the_far_generation():
    far = FakeEngine(lambda m, o: [TextDelta(f"w{i} ") for i in range(10_000)], delay=0.01)
    with running(create_app(far, settings=Settings(), token=TOKEN)) as url:
        eng = remote(url)
        stream = eng.generate([Message.text("user", "go on")], GenerateOptions(max_tokens=10_000))
        first = next(stream)
        assert isinstance(first, TextDelta)
        threading.Timer(0.2, eng.cancel).start()
        rest = list(stream)
        assert rest[-1].reason == "cancelled"
        for _ in range(400):  # the server notices the closed stream and cancels its engine, which stops
            if far.cancels and not far.generating.is_set():
                break
            threading.Event().wait(0.05)
        # stopped by the cancel: its 10,000 tokens at 10 ms each would take 100 s
        assert far.cancels >= 1 and not far.generating.is_set()
        assert far.finished in ([], ["cancelled"])  # drained to its cancelled finish, or closed before it
        eng.close()


def test_a_wrong_token_is_a_load_error_naming_the_server():
    with running(create_app(FakeEngine(), settings=Settings(), token=TOKEN)) as url:
        eng = RemoteEngine(base_url=url + "/v1", api_key="not-the-token", context_tokens=4096)
        with pytest.raises(EngineError) as err:
            eng.load()
    assert url in str(err.value) and eng.state == "failed"
