"""The `msa.index_cache` setting through the MSA engine: "auto" keeps the index keys in the KV
cache's dtype, "fp8" stores them in e4m3 and the engine replies as it does with "auto" (on the CPU
the reference backend reads the fp8 keys upcast to fp32); a GPU whose Triton has no e4m3 (compute
capability below 8.9) fails the load with an EngineError naming the setting."""

import pytest
import torch

from core.engine import EngineError, GenerateOptions, open_engine
from core.engine.msa import MsaEngine
from core.engine.options import SamplingParams
from core.events import Finished, TextDelta, Usage
from core.messages import Message
from core.model.attention import check_index_cache
from core.settings import MsaSettings, Settings
from kernels.msa import INDEX_FP8  # imported here, under the test interpreter, before any test changes it

# past the 4 blocks of 16 tokens the tiny model selects, so the sparse layers rank blocks by the stored keys
LONG = [Message.text("user", " ".join(["the quick brown fox jumps over the lazy dog"] * 12))]


def loaded(folder, device, index_cache):
    engine = open_engine(
        Settings(model_dir=str(folder), msa=MsaSettings(device=device, dtype="fp32", index_cache=index_cache))
    )
    assert isinstance(engine, MsaEngine)
    engine.load()
    return engine


@pytest.fixture(scope="module")
def engines(tiny_chat_dir, device):
    auto, fp8 = loaded(tiny_chat_dir, device, "auto"), loaded(tiny_chat_dir, device, "fp8")
    yield auto, fp8
    auto.close()
    fp8.close()


def test_auto_keeps_the_kv_cache_dtype_and_fp8_stores_e4m3(engines):
    auto, fp8 = engines
    for engine, kind in ((auto, torch.float32), (fp8, INDEX_FP8)):
        assert engine.cache.k[0].dtype == engine.cache.v[0].dtype == torch.float32
        assert engine.cache.index_k and all(t.dtype == kind for t in engine.cache.index_k.values())
    assert fp8.cache.bytes_per_token < auto.cache.bytes_per_token


def test_an_fp8_index_cache_replies_with_the_same_kinds_of_events(engines):
    kinds = []
    for engine in engines:
        events = list(engine.generate(LONG, GenerateOptions(sampling=SamplingParams(temperature=0.0), max_tokens=8)))
        assert events[-2].prompt_tokens > 64, "the prompt must reach past the blocks every query selects"
        assert any(isinstance(e, TextDelta) and e.text for e in events)
        assert isinstance(events[-1], Finished) and events[-1].reason in ("stop", "length")
        kinds.append([type(e) for e in events if not isinstance(e, TextDelta)])
        used = torch.tensor(engine.seq.pages)
        assert all(t[used].float().isfinite().all() and (t[used] != 0).any() for t in engine.cache.index_k.values())
    assert kinds[0] == kinds[1] == [Usage, Finished]


def test_fp8_on_a_gpu_below_compute_capability_8_9_fails_the_load(tiny_chat_dir, monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")  # compiled Triton, as on a real GPU
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 6))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA A10")
    engine = MsaEngine(tiny_chat_dir, device="cuda", index_dtype=INDEX_FP8)
    with pytest.raises(
        EngineError,
        match=r"msa.index_cache: an index cache of float8_e4m3fn cannot be used on cuda: "
        r".*NVIDIA A10 \(compute capability \(8, 6\)\) has no e4m3 support .*"
        r"Set msa.index_cache to auto \(SPYGLASS_INDEX_CACHE=auto\)",
    ):
        engine.load()
    assert engine.state == "failed" and "compute capability (8, 6)" in engine.error and engine.model is None
    check_index_cache("cuda", None, torch.bfloat16)  # auto: the KV cache's dtype runs anywhere
    check_index_cache("cuda", "reference", INDEX_FP8)  # the reference upcasts the keys itself
    check_index_cache("cpu", None, INDEX_FP8)  # the CPU's backend is the reference


def test_fp8_on_a_gpu_from_compute_capability_8_9_passes_the_check(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 9))
    check_index_cache("cuda", None, INDEX_FP8)
    check_index_cache("cuda", "triton", INDEX_FP8)
