"""A NaN in an MSA layer's index queries ends the reply with an error event naming the non-finite
index scores, on every attention backend and on the sync-free decode step (issue 17)."""

import math

import pytest
import torch

from core.engine import GenerateOptions, open_engine
from core.engine.options import SamplingParams
from core.events import Finished
from core.messages import Message
from core.model.cache import PagedCache, Sequence
from core.model.checkpoint import Checkpoint
from core.model.config import load_config
from core.model.m3 import M3TextModel
from core.settings import MsaSettings, Settings

CHAT = [Message.text("user", "what is in this picture? a cat on a mat")]


def poison_index_queries(layers) -> None:
    """NaN in the index query projection of the first sparse layer: only the index branch sees it."""
    sparse = next(w for w in layers if w.index is not None)
    sparse.qkv[sum(sparse.qkv_split[:3]), 0] = math.nan  # the first row after q, k and v: index q


@pytest.mark.parametrize("attention", ["reference", "triton"])
def test_engine_turns_non_finite_index_scores_into_an_error_event(attention, tiny_chat_dir, device):
    eng = open_engine(Settings(model_dir=str(tiny_chat_dir),
                               msa=MsaSettings(device=device, dtype="fp32", attention=attention)))
    eng.load()
    try:
        poison_index_queries(eng.model.layers)
        events = list(eng.generate(CHAT, GenerateOptions(sampling=SamplingParams(temperature=0.0), max_tokens=3)))
        assert isinstance(events[-1], Finished) and events[-1].reason == "error"
        assert events[-1].error.startswith("ValueError: non-finite index scores: iq holds a non-finite value")
        assert eng.seq.length == 0, "the cache is dropped after the error"
    finally:
        eng.close()


def test_static_decode_step_reports_non_finite_index_scores(tiny_model_dir, device):
    """The CUDA-graph step runs the kernels unchecked: it ORs a device flag and raises after the step."""
    cfg = load_config(tiny_model_dir)
    model = M3TextModel(cfg, Checkpoint(tiny_model_dir, cfg), device=device, attention="triton")
    assert model.static_decode
    cache = PagedCache(cfg, num_pages=16, dtype=torch.float32, device=model.device)
    seq = Sequence()
    model.forward(torch.randint(3, 256, (70,), device=model.device), cache, seq)  # past the dense range
    assert torch.isfinite(model.decode(5, cache, seq)).all()
    poison_index_queries(model.layers)
    message = r"non-finite index scores: an index query of this decode step \(position 71\)"
    with pytest.raises(ValueError, match=message):
        model.decode(6, cache, seq)
