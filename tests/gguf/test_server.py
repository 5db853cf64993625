"""`spyglass serve` over the real GGUF engine (a tiny converted MiniMax-M3 through llama.cpp),
driven by the official `openai` client: the streamed reply, greedy, is exactly the engine's own
reply to the same request, and so are its finish reason and token counts; the reply not streamed
says the same."""

import pytest

from core.engine import GREEDY, GenerateOptions
from core.engine.gguf import GgufEngine
from core.events import Finished, ReasoningDelta, TextDelta, Usage
from core.messages import Message
from core.server import create_app
from core.settings import Settings
from tests.server.harness import client, running

PROMPT = "the quick brown fox"
FINISH = {"stop": "stop", "stop_string": "stop", "length": "length"}


@pytest.fixture(scope="module")
def engine(m3_gguf):
    eng = GgufEngine(m3_gguf, context_tokens=512)
    eng.load()
    yield eng
    eng.close()


def test_the_streamed_reply_is_the_engines_own(engine):
    events = list(engine.generate([Message.text("user", PROMPT)], GenerateOptions(sampling=GREEDY, max_tokens=12)))
    want_text = "".join(e.text for e in events if isinstance(e, TextDelta))
    want_reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    usage = next(e for e in events if isinstance(e, Usage))
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.reason in FINISH and want_text + want_reasoning

    with running(create_app(engine, settings=Settings(), token="gguf-test-token-0123456789")) as url:
        c = client(url, "gguf-test-token-0123456789", timeout=120)
        (model,) = c.models.list().data
        ask = dict(model=model.id, messages=[{"role": "user", "content": PROMPT}], temperature=0, max_tokens=12)
        chunks = list(c.chat.completions.create(**ask, stream=True, stream_options={"include_usage": True}))
        reply = c.chat.completions.create(**ask)

    deltas = [ch.choices[0].delta for ch in chunks if ch.choices]
    assert "".join(d.content or "" for d in deltas) == want_text
    assert "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas) == want_reasoning
    assert chunks[-2].choices[0].finish_reason == FINISH[finished.reason]
    got = chunks[-1].usage
    assert (got.prompt_tokens, got.completion_tokens) == (usage.prompt_tokens, usage.completion_tokens)
    assert (reply.choices[0].message.content or "") == want_text
    assert reply.choices[0].finish_reason == FINISH[finished.reason]
    assert reply.usage.completion_tokens == usage.completion_tokens


def test_the_remote_engine_through_serve_answers_as_the_engine_does(engine):
    """Our remote engine against `spyglass serve` over the tiny real model: the same greedy text
    and finish as the GGUF engine called directly, and the second turn's cache still used behind."""
    from core.engine.remote import RemoteEngine

    ask = [Message.text("user", PROMPT)]
    events = list(engine.generate(ask, GenerateOptions(sampling=GREEDY, max_tokens=12)))
    want = "".join(e.text for e in events if isinstance(e, (TextDelta, ReasoningDelta)))
    with running(create_app(engine, settings=Settings(), token="gguf-test-token-0123456789")) as url:
        far = RemoteEngine(base_url=url + "/v1", api_key="gguf-test-token-0123456789", context_tokens=512)
        far.load()
        got = list(far.generate(ask, GenerateOptions(sampling=GREEDY, max_tokens=12)))
        far.close()
    assert "".join(e.text for e in got if isinstance(e, (TextDelta, ReasoningDelta))) == want
    assert got[-1].reason == events[-1].reason
    usage = next(e for e in got if isinstance(e, Usage))
    assert usage.completion_tokens == 12 or got[-1].reason == "stop"
    assert usage.cached_tokens > 0  # the same prompt again: the engine behind reused its cache
