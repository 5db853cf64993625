"""The generation event stream on the tiny M3: length, end token, stop strings, cancel, context."""

import threading

import pytest
import torch

from core.model.cache import PagedCache, Sequence
from core.model.checkpoint import Checkpoint
from core.model.config import load_config
from core.events import Finished, TextDelta, Usage
from core.model.generate import ContextTooLongError, generate
from core.model.m3 import M3TextModel
from core.engine.options import SamplingParams

CHARS = [chr(0x4E00 + i) for i in range(256)]  # one printable character per token id


def decode(ids):
    return "".join(CHARS[i] for i in ids)


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    cfg = load_config(tiny_model_dir)
    return M3TextModel(cfg, Checkpoint(tiny_model_dir, cfg))


def run(model, prompt, **kwargs):
    cache, seq = PagedCache(model.cfg, num_pages=32, dtype=torch.float32), Sequence()
    events = list(generate(model, cache, seq, prompt, decode, **kwargs))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    return events, text, seq


PROMPT = torch.randint(3, 256, (30,), generator=torch.Generator().manual_seed(1))


def test_greedy_runs_to_max_tokens_and_reports_usage(model):
    events, text, seq = run(model, PROMPT, max_tokens=12)
    assert events[-2:] == [Usage(30, 12), Finished("length")]
    assert len(text) == 12 and seq.length == 30 + 12  # the reply stays in the cache for the next turn


def test_end_token_and_stop_strings_end_the_reply(model):
    _, text, _ = run(model, PROMPT, max_tokens=12)
    eos = CHARS.index(text[5])
    events, cut, _ = run(model, PROMPT, max_tokens=12, eos_ids=[eos])
    assert events[-1] == Finished("stop") and cut == text[:text.index(text[5])]
    events, cut, _ = run(model, PROMPT, max_tokens=12, stop=[text[4:7]])
    assert events[-1] == Finished("stop_string") and cut == text[:4]


def test_seeded_sampling_repeats(model):
    params = SamplingParams(temperature=1.0, seed=3)
    assert run(model, PROMPT, params=params, max_tokens=8)[1] == run(model, PROMPT, params=params, max_tokens=8)[1]


def test_cancel_from_another_thread_stops_between_tokens(model):
    cancel = threading.Event()
    cache, seq = PagedCache(model.cfg, num_pages=32, dtype=torch.float32), Sequence()
    stream = generate(model, cache, seq, PROMPT, decode, max_tokens=50, cancel=cancel)
    first = next(stream)
    threading.Thread(target=cancel.set).start()
    rest = list(stream)
    assert isinstance(first, TextDelta) and rest[-1] == Finished("cancelled")
    assert rest[-2].completion_tokens < 50


def test_generation_stops_at_the_context_end(model):
    events, text, seq = run(model, PROMPT, max_tokens=50, context_length=40)
    assert events[-1] == Finished("length") and seq.length == 40 and len(text) == 10


def test_prompt_longer_than_the_context_is_refused_before_any_work(model):
    cache, seq = PagedCache(model.cfg, num_pages=32, dtype=torch.float32), Sequence()
    with pytest.raises(ContextTooLongError, match="needs 30 tokens of the 30-token context"):
        next(generate(model, cache, seq, PROMPT, decode, context_length=30))
    assert seq.length == 0 and not seq.pages
