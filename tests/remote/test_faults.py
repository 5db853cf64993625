"""The remote engine against a real HTTP server that misbehaves on cue (tests/remote/scripted.py):
503s before the stream are retried, an error after tokens is not (the server counts requests), a
stall trips the read timeout, a killed server ends the reply with an error while the history keeps
what streamed, cancel ends a silent stream at once, a refused connection is a load error naming
the URL. Also what travels: streamed tool-call fragments joined, reasoning in both forms, and the
request body (media as PNG data URIs in order, each video frame after its time stamp)."""

import base64
import io
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.chat import Conversation
from core.engine import GREEDY, EngineError, GenerateOptions, SamplingParams, choose_backend, open_engine
from core.engine.remote import RemoteEngine
from core.events import Finished, MalformedToolCall, ReasoningDelta, TextDelta, ToolCall, Usage
from core.history import HistoryStore
from core.messages import ImagePart, Message, Source, TextPart, VideoPart
from core.settings import RemoteSettings, Settings

from .scripted import free_port

ROOT = Path(__file__).resolve().parents[2]
HI = [Message.text("user", "hi")]


def engine_for(url: str, **settings) -> RemoteEngine:
    eng = RemoteEngine(RemoteSettings(base_url=url, **settings))
    eng.load()
    return eng


def text_of(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_503_before_the_stream_is_retried_and_then_answers(scripted, caplog):
    with caplog.at_level("INFO"), engine_for(scripted.url("flaky"), retries=3) as eng:
        events = list(eng.generate(HI))
    assert text_of(events) == "Hello world" and events[-1] == Finished("stop")
    assert scripted.scripts.requests["flaky"] == 3 and caplog.text.count("Retrying request") == 2


def test_an_error_after_tokens_began_is_the_end_and_nothing_is_resent(scripted):
    with engine_for(scripted.url("midfail"), retries=3) as eng:
        events = list(eng.generate(HI))
    assert text_of(events) == "Partial" and events[-1].reason == "error"
    assert "engine core died" in events[-1].error and scripted.url("midfail") in events[-1].error
    assert scripted.scripts.requests["midfail"] == 1


def test_a_stall_mid_stream_trips_the_read_timeout_naming_it_and_the_server(scripted):
    with engine_for(scripted.url("stall"), read_timeout=1.0) as eng:
        events = list(eng.generate(HI))
        assert eng.state == "ready"  # the next request may go
    assert text_of(events) == "Wait" and events[-1].reason == "error"
    assert events[-1].error == f"{scripted.url('stall')} sent nothing for 1 s (remote.read_timeout)"
    assert scripted.scripts.requests["stall"] == 1


def test_cancel_ends_a_silent_stream_at_once(scripted):
    """The server says one word and then nothing: only shutting the socket down can end the
    read before the 600 s read timeout, which would make the reason "error"."""
    with engine_for(scripted.url("stall"), read_timeout=600.0) as eng:
        events = []
        for event in eng.generate(HI):
            events.append(event)
            threading.Timer(0.2, eng.cancel).start()
        assert events[-1] == Finished("cancelled") and text_of(events) == "Wait"
        assert isinstance(events[-2], Usage)


def test_a_server_killed_mid_stream_is_an_error_and_the_partial_reply_stays(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "tests.remote.scripted"], stdout=subprocess.PIPE, env=env,
                              cwd=ROOT, text=True)
    try:
        url = f"http://127.0.0.1:{int(server.stdout.readline())}/endless/v1"
        eng = engine_for(url, retries=3)
        with HistoryStore(tmp_path / "h.sqlite3") as store:
            chat = Conversation(store)
            turn = chat.send("count")
            events = []
            for event in chat.reply(eng, GenerateOptions(max_tokens=100_000), turn):
                events.append(event)
                if len(events) == 3:
                    os.kill(server.pid, signal.SIGKILL)
            reply = store.messages(turn.conversation_id)[-1]
    finally:
        server.kill()
        server.wait(10)
    assert events[-1].reason == "error" and url in events[-1].error and "broke mid-reply" in events[-1].error
    assert reply.status == "error" and url in reply.error
    assert reply.text == text_of(events) and reply.text.startswith("t0 t1 t2 ")
    eng.close()


def test_a_refused_connection_is_a_load_error_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}/v1"
    eng = RemoteEngine(RemoteSettings(base_url=url, retries=1, connect_timeout=5.0))
    with pytest.raises(EngineError, match=f"{url}: cannot reach the server"):
        eng.load()
    assert eng.state == "failed" and url in eng.error
    with pytest.raises(EngineError, match="no server is set"):
        RemoteEngine().load()


def test_streamed_tool_call_fragments_are_joined_and_bad_json_is_shown_not_run(scripted):
    tools = ({"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},)
    with engine_for(scripted.url("tools")) as eng:
        events = list(eng.generate(HI, GenerateOptions(tools=tools)))
    assert events == [TextDelta("Checking."), ToolCall("get_weather", {"city": "Paris", "days": 2}),
                      MalformedToolCall('broken {"x": 1,,}'), Usage(30, 12, 8), Finished("stop")]
    (body,) = scripted.scripts.bodies["tools"]
    assert body["tools"] == [{"type": "function", "function": tools[0]}]


def test_reasoning_from_the_field_and_from_either_tag(scripted):
    with engine_for(scripted.url("reasoning")) as eng:
        events = list(eng.generate(HI))
    assert events == [ReasoningDelta("The user "), ReasoningDelta("greets."), ReasoningDelta("inner"),
                      TextDelta("Hi "), ReasoningDelta("m3 way"), TextDelta("there"), Usage(5, 7),
                      Finished("stop_string")]


def decoded(url: str) -> np.ndarray:
    head, data = url.split(",", 1)
    assert head == "data:image/png;base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))


def test_the_request_carries_media_in_order_options_and_history(scripted):
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    frames = rng.integers(0, 256, (2, 8, 12, 3), dtype=np.uint8)
    user = Message("user", (TextPart("look: "), ImagePart(picture, Source("file", path="/p.png")), TextPart(" and "),
                            VideoPart(frames, (0.5, 61.25), Source("file", path="/v.mp4"))))
    history = [Message.text("system", "Be brief."), Message.text("user", "weather?"),
               Message("assistant", (), tool_calls=(ToolCall("get_weather", {"city": "Oslo"}),)),
               Message.text("tool", "rain"), user]
    options = GenerateOptions(sampling=SamplingParams(temperature=0.3, top_k=5, top_p=0.9, seed=7), max_tokens=9,
                              stop=("END",), template_options={"enable_thinking": False})
    with engine_for(scripted.url("hello")) as eng:
        assert list(eng.generate(history, options))[-1] == Finished("stop")
    body = scripted.scripts.bodies["hello"][-1]
    assert (body["model"], body["max_tokens"], body["temperature"], body["top_p"], body["seed"], body["top_k"]) == (
        "scripted-model", 9, 0.3, 0.9, 7, 5)
    assert body["stop"] == ["END"] and body["stream"] and body["stream_options"] == {"include_usage": True}
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    system, asked, called, answered, content = body["messages"]
    assert system == {"role": "system", "content": "Be brief."} and asked["content"] == "weather?"
    (c,) = called["tool_calls"]
    assert c["function"] == {"name": "get_weather", "arguments": '{"city": "Oslo"}'}
    assert answered == {"role": "tool", "content": "rain", "tool_call_id": c["id"]}
    parts = content["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "text", "text", "image_url", "text", "image_url"]
    assert [p["text"] for p in parts if p["type"] == "text"] == ["look: ", " and ", "[0m0.50s]", "[1m1.25s]"]
    urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    assert np.array_equal(decoded(urls[0]), picture)
    assert np.array_equal(decoded(urls[1]), frames[0]) and np.array_equal(decoded(urls[2]), frames[1])


def test_counting_is_a_local_estimate_and_says_so(scripted, caplog):
    with caplog.at_level("INFO", logger="core.engine.remote"), engine_for(scripted.url("hello")) as eng:
        n = eng.count_tokens([Message.text("user", "x" * 40)])
        picture = ImagePart(np.zeros((56, 84, 3), np.uint8), Source("screenshot"))
        assert eng.count_tokens([Message("user", (picture,))]) == 4 + 2 * 3
    assert n == 4 + 10 and "cannot count tokens; estimating" in caplog.text


def test_the_registry_builds_it_when_asked_or_for_a_url(scripted):
    url = scripted.url("hello")
    forced = open_engine(Settings(engine="remote", remote=RemoteSettings(base_url=url)))
    assert isinstance(forced, RemoteEngine) and forced.base_url == url
    backend, why = choose_backend(Settings(model_dir=url))
    assert backend.name == "remote" and why == "the model location is a server URL"
    by_location = open_engine(Settings(model_dir=url))
    by_location.load()
    assert by_location.info().model == "scripted-model"
    by_location.close()
    with pytest.raises(EngineError, match="no model is set"):
        open_engine(Settings(engine="remote"))
