"""The MSA engine on a complete tiny model folder: load, count, stream, reuse the cache, cancel."""

import shutil
import threading

import pytest
import torch

from core.engine import EngineError, GenerateOptions, open_engine
from core.engine.msa import MsaEngine
from core.settings import MsaSettings, Settings
from core.events import Finished, LoadProgress, ReasoningDelta, TextDelta, Usage
from core.messages import Message
from core.engine.protocol import ContextTooLongError
from core.engine.options import SamplingParams

GREEDY = SamplingParams(temperature=0.0)
CHAT = [Message.text("system", "be brief"), Message.text("user", "what is in this picture? a cat on a mat")]


@pytest.fixture(scope="module")
def engine(tiny_chat_dir, device):
    steps = []
    eng = open_engine(Settings(model_dir=str(tiny_chat_dir), msa=MsaSettings(device=device, dtype="fp32")))
    assert isinstance(eng, MsaEngine) and eng.dtype == torch.float32
    assert eng.state == "idle"
    eng.load(on_progress=steps.append)
    assert eng.state == "ready"
    assert [s.step for s in steps] == [1, 2, 3, 4, 5] and steps[-1].total == 5  # embeddings, 3 layers, head
    assert isinstance(steps[-1], LoadProgress) and steps[-1].bytes_done == steps[-1].bytes_total > 0
    yield eng
    eng.close()
    assert eng.state == "closed"


def reply(engine, messages, **options):
    events = list(engine.generate(messages, GenerateOptions(**{"sampling": GREEDY, **options})))
    return events, list(engine.seq.ids)


def test_count_tokens_is_the_rendered_prompt(engine):
    text = engine.template.render([{"role": m.role, "content": m.parts[0].text} for m in CHAT])
    assert engine.count_tokens(CHAT) == len(engine.tokenizer.encode(text, add_special_tokens=False).ids)


def test_greedy_reply_matches_transformers(engine, tiny_model_dir):
    from transformers.models.minimax_m3_vl.modeling_minimax_m3_vl import MiniMaxM3SparseForConditionalGeneration

    events, held = reply(engine, CHAT, max_tokens=24)
    prompt = engine._prompt(CHAT, GenerateOptions())[0]
    usage, finished = events[-2:]
    assert usage == Usage(len(prompt), usage.completion_tokens, 0) and finished.reason in ("stop", "length")
    theirs = MiniMaxM3SparseForConditionalGeneration.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    config = theirs.generation_config
    config.eos_token_id, config.pad_token_id = list(engine.eos_ids), 0
    with torch.no_grad():
        ref = theirs.generate(input_ids=torch.tensor([prompt]), generation_config=config,
                              max_new_tokens=24, do_sample=False)[0, len(prompt):].tolist()
    ref = [t for t in ref if t not in engine.eos_ids]
    assert held[len(prompt):] == ref and usage.completion_tokens == len(ref)
    text = "".join(e.text for e in events if isinstance(e, (TextDelta, ReasoningDelta)))
    assert text.replace("<mm:think>", "").replace("</mm:think>", "") == \
        engine.tokenizer.decode(ref, skip_special_tokens=False).replace("<mm:think>", "").replace("</mm:think>", "")


def test_next_turn_prefills_only_new_tokens_and_equals_recomputing(engine):
    first, _ = reply(engine, CHAT, max_tokens=8)
    answer = "".join(e.text for e in first if isinstance(e, TextDelta))
    turn2 = CHAT + [Message.text("assistant", answer), Message.text("user", "and the dog?")]
    events, held = reply(engine, turn2, max_tokens=8)
    usage = events[-2]
    prompt_len = len(engine._prompt(CHAT, GenerateOptions())[0])
    assert usage.cached_tokens >= prompt_len  # the first turn's prompt was not prefilled again
    engine.cache.truncate(engine.seq, 0)
    fresh_events, fresh = reply(engine, turn2, max_tokens=8)
    assert fresh_events[-2].cached_tokens == 0 and fresh == held


def test_chunked_prefill_gives_the_same_reply(engine, tiny_chat_dir, device):
    _, whole = reply(engine, CHAT, max_tokens=6)
    engine.cache.truncate(engine.seq, 0)
    chunked = MsaEngine(tiny_chat_dir, device=device, dtype=torch.float32, prefill_chunk=7)
    chunked.load()
    assert reply(chunked, CHAT, max_tokens=6)[1] == whole
    chunked.close()


def test_thinking_prompt_streams_reasoning(engine):
    events, _ = reply(engine, CHAT, max_tokens=6, template_options={"enable_thinking": True})
    deltas = [e for e in events if isinstance(e, (TextDelta, ReasoningDelta))]
    assert deltas and isinstance(deltas[0], ReasoningDelta)


def test_prompt_longer_than_the_context_is_refused_before_work(tiny_chat_dir, device):
    small = MsaEngine(tiny_chat_dir, device=device, dtype=torch.float32, context_tokens=32)
    small.load()
    long_chat = [Message.text("user", "the quick brown fox jumps over the lazy dog " * 8)]
    with pytest.raises(ContextTooLongError, match=r"needs \d+ tokens of the 32-token context"):
        small.generate(long_chat)
    assert small.seq.length == 0
    small.close()


def test_cancel_from_another_thread(engine):
    engine.cache.truncate(engine.seq, 0)
    stream = engine.generate(CHAT, GenerateOptions(sampling=SamplingParams(temperature=1.0, seed=1),
                                                   max_tokens=500))
    seen = []

    def consume():
        for event in stream:
            seen.append(event)
            if len(seen) == 1:
                engine.cancel()

    worker = threading.Thread(target=consume)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert seen[-1] == Finished("cancelled") and seen[-2].completion_tokens < 500


def test_engine_states_and_errors(tiny_chat_dir, tmp_path, device):
    eng = MsaEngine(tiny_chat_dir, device=device)
    with pytest.raises(EngineError, match="the engine is idle; it must be loaded first"):
        eng.count_tokens(CHAT)
    broken = tmp_path / "broken"
    shutil.copytree(tiny_chat_dir, broken)
    (broken / "tokenizer.json").unlink()
    eng = MsaEngine(broken, device=device)
    with pytest.raises(ValueError, match="tokenizer.json does not exist"):
        eng.load()
    assert eng.state == "failed" and "tokenizer.json" in eng.error
    with pytest.raises(EngineError, match="the engine is failed: .*tokenizer.json"):
        eng.generate(CHAT)
    with pytest.raises(EngineError, match="holds no model"):
        open_engine(Settings(model_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="message role 'robot' is unknown"):
        Message.text("robot", "hi")


def test_tool_definitions_and_calls_reach_the_template(engine):
    from core.events import ToolCall

    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    with_tools = GenerateOptions(tools=(tool,))
    text = engine._prompt(CHAT, with_tools)[1]
    assert '"name": "get_weather"' in text
    assert engine.count_tokens(CHAT, with_tools) > engine.count_tokens(CHAT)
    history = CHAT + [Message("assistant", (), tool_calls=(ToolCall("get_weather", {"city": "paris"}),)),
                      Message.text("tool", "sunny")]
    text = engine._prompt(history, with_tools)[1]
    assert ']<]minimax[>[<tool_call><invoke name="get_weather"><city>paris</city></invoke>' in text
    assert text.endswith("]~b]tool\nsunny[e~[\n]~b]ai\n")
