"""The official `openai` client driving the server over a fake engine: streaming chunks, finish
reasons, usage, reasoning, tool calls both ways, request options reaching the engine, and every
refusal in the OpenAI error shape with its status."""

import json

import openai
import pytest

from core.events import Finished, MalformedToolCall, ReasoningDelta, TextDelta, ToolCall
from core.messages import TextPart

from .fake_engine import FakeEngine
from .harness import client, health

HI = [{"role": "user", "content": "hello there"}]


def test_models_and_health(serve):
    url = serve(FakeEngine())
    c = client(url)
    assert [m.id for m in c.models.list()] == ["fake-model"]
    assert c.models.retrieve("fake-model").owned_by == "spyglass"
    status = health(url)
    assert (status["status"], status["model"], status["engine"], status["requests"]) == ("ok", "fake-model", "fake", 0)


def test_a_streamed_reply_arrives_as_chunks_with_usage(serve):
    url = serve(FakeEngine())
    chunks = list(
        client(url).chat.completions.create(
            model="fake-model", messages=HI, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert deltas == ["echo: ", "hello ", "there "]  # one chunk per token
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert len({c.id for c in chunks}) == 1 and all(c.model == "fake-model" for c in chunks)
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (2, 3, 5)
    assert usage.prompt_tokens_details.cached_tokens == 1


def test_without_include_usage_a_stream_has_no_usage_chunk(serve):
    chunks = list(client(serve(FakeEngine())).chat.completions.create(model="fake-model", messages=HI, stream=True))
    assert all(c.usage is None for c in chunks) and chunks[-1].choices[0].finish_reason == "stop"


def test_a_reply_not_streamed_has_its_text_finish_and_usage(serve):
    reply = client(serve(FakeEngine())).chat.completions.create(model="fake-model", messages=HI)
    assert reply.object == "chat.completion" and reply.choices[0].message.content == "echo: hello there "
    assert reply.choices[0].finish_reason == "stop" and reply.choices[0].message.role == "assistant"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (2, 3)


@pytest.mark.parametrize("stream", [True, False])
def test_max_tokens_ends_with_length(serve, stream):
    engine = FakeEngine()
    c = client(serve(engine))
    if stream:
        chunks = list(c.chat.completions.create(model="fake-model", messages=HI, stream=True, max_tokens=2))
        text = "".join(ch.choices[0].delta.content or "" for ch in chunks)
        finish = chunks[-1].choices[0].finish_reason
    else:
        reply = c.chat.completions.create(model="fake-model", messages=HI, max_completion_tokens=2)
        text, finish = reply.choices[0].message.content, reply.choices[0].finish_reason
    assert (text, finish) == ("echo: hello ", "length")
    assert engine.requests[-1][1].max_tokens == 2


def scripted(*events):
    return FakeEngine(lambda messages, options: list(events))


def test_tool_calls_stream_as_deltas_and_finish_with_tool_calls(serve):
    engine = scripted(TextDelta("let me look"), ToolCall("get_weather", {"city": "Oslo"}), ToolCall("now", {}))
    chunks = list(client(serve(engine)).chat.completions.create(model="fake-model", messages=HI, stream=True))
    calls = [tc for ch in chunks if ch.choices for tc in ch.choices[0].delta.tool_calls or []]
    assert [(tc.index, tc.function.name, json.loads(tc.function.arguments)) for tc in calls] == [
        (0, "get_weather", {"city": "Oslo"}),
        (1, "now", {}),
    ]
    assert all(tc.id.startswith("call_") and tc.type == "function" for tc in calls) and calls[0].id != calls[1].id
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tool_calls_not_streamed(serve):
    engine = scripted(ToolCall("get_weather", {"city": "Oslo", "days": 2}))
    reply = client(serve(engine)).chat.completions.create(model="fake-model", messages=HI)
    (call,) = reply.choices[0].message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Oslo", "days": 2}
    assert reply.choices[0].finish_reason == "tool_calls" and reply.choices[0].message.content is None


def test_reasoning_arrives_as_reasoning_content_and_malformed_calls_as_text(serve):
    engine = scripted(ReasoningDelta("thinking"), TextDelta("answer "), MalformedToolCall("<invoke broken"))
    c = client(serve(engine))
    chunks = list(c.chat.completions.create(model="fake-model", messages=HI, stream=True))
    reasoning = [ch.choices[0].delta.model_extra.get("reasoning_content") for ch in chunks if ch.choices]
    assert "thinking" in reasoning
    reply = c.chat.completions.create(model="fake-model", messages=HI)
    message = reply.choices[0].message
    assert message.model_extra["reasoning_content"] == "thinking" and message.content == "answer <invoke broken"
    assert reply.choices[0].finish_reason == "stop"


def test_request_options_and_messages_reach_the_engine(serve):
    engine = FakeEngine()
    tools = [{"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}]
    messages = [
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "what "}, {"type": "text", "text": "time?"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "now", "arguments": '{"tz": "UTC"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "noon"},
    ]
    client(serve(engine)).chat.completions.create(
        model="fake-model",
        messages=messages,
        temperature=0.5,
        top_p=0.9,
        seed=7,
        stop=["END", "STOP"],
        max_tokens=33,
        tools=tools,
        extra_body={"top_k": 4, "chat_template_kwargs": {"enable_thinking": True}},
    )
    got, options = engine.requests[-1]
    assert [m.role for m in got] == ["system", "user", "assistant", "tool"]
    assert got[1].parts == (TextPart("what "), TextPart("time?"))
    assert got[2].tool_calls[0].name == "now" and got[2].tool_calls[0].arguments == {"tz": "UTC"}
    s = options.sampling
    assert (s.temperature, s.top_p, s.top_k, s.seed) == (0.5, 0.9, 4, 7)
    assert options.stop == ("END", "STOP") and options.max_tokens == 33 and options.tools == tuple(tools)
    assert options.template_options == {"enable_thinking": True}


def error_of(call):
    with pytest.raises(openai.APIStatusError) as caught:
        call()
    err = caught.value
    body = err.response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return err.status_code, body["error"]


def test_refusals_come_in_the_openai_error_shape(serve):
    c = client(serve(FakeEngine(context=50)))
    create = c.chat.completions.create
    status, err = error_of(lambda: create(model="gpt-4o", messages=HI))
    assert (status, err["code"], err["type"]) == (404, "model_not_found", "not_found_error")
    status, err = error_of(lambda: create(model="fake-model", messages=HI, n=2))
    assert (status, err["param"], err["type"]) == (400, "n", "invalid_request_error")
    status, err = error_of(lambda: create(model="fake-model", messages=HI, temperature=-1))
    assert (status, err["param"]) == (400, "temperature")
    status, err = error_of(lambda: create(model="fake-model", messages=[]))
    assert (status, err["param"]) == (400, "messages")
    status, err = error_of(lambda: create(model="fake-model", messages=[{"role": "wizard", "content": "x"}]))
    assert (status, err["param"]) == (400, "messages.0.role")
    status, err = error_of(lambda: create(model="fake-model", messages=[{"role": "user", "content": "a " * 60}]))
    assert (status, err["code"]) == (400, "context_length_exceeded")
    status, err = error_of(
        lambda: c.post(
            "/chat/completions", body=None, cast_to=object, options={"headers": {"Content-Type": "application/json"}}
        )
    )
    assert status == 400
    status, err = error_of(lambda: c.get("/nowhere", cast_to=object))
    assert (status, err["code"]) == (404, "not_found")
    status, err = error_of(lambda: c.models.retrieve("gpt-4o"))
    assert status == 404


def test_a_body_over_the_bound_is_413(serve):
    c = client(serve(FakeEngine(), max_body_bytes=4096))
    status, err = error_of(
        lambda: c.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "x" * 5000}])
    )
    assert (status, err["code"]) == (413, "body_too_large")
    assert c.chat.completions.create(model="fake-model", messages=HI).choices[0].message.content


@pytest.mark.parametrize("stream", [True, False])
def test_an_engine_that_fails_before_a_token_is_a_500(serve, stream):
    engine = scripted(Finished("error", "the child died"))
    status, err = error_of(
        lambda: client(serve(engine)).chat.completions.create(model="fake-model", messages=HI, stream=stream)
    )
    assert status == 500 and "the child died" in err["message"] and err["type"] == "server_error"


def test_an_engine_refusing_the_request_is_a_400_and_a_broken_one_a_503(serve):
    from core.engine.protocol import EngineError

    status, err = error_of(
        lambda: client(serve(FakeEngine(fail=ValueError("no vision tower")))).chat.completions.create(
            model="fake-model", messages=HI
        )
    )
    assert status == 400 and "no vision tower" in err["message"]
    status, err = error_of(
        lambda: client(serve(FakeEngine(fail=EngineError("the engine is failed")))).chat.completions.create(
            model="fake-model", messages=HI, stream=True
        )
    )
    assert status == 503


def test_a_failure_mid_stream_is_an_error_event(serve):
    engine = scripted(TextDelta("partial "), Finished("error", "out of memory"))
    stream = client(serve(engine)).chat.completions.create(model="fake-model", messages=HI, stream=True)
    got = []
    with pytest.raises(openai.APIError, match="out of memory"):
        for chunk in stream:
            got.append(chunk.choices[0].delta.content)
    assert "partial " in got
