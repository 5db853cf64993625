"""The M3 runtime end to end against transformers, at full width with a few layers (issue 4).

    python benchmarks/m3_runtime.py [--layers 3] [--contexts 8192,32768] [--json out.json]

The full-width MiniMax-M3 text configuration (MSA.md §7: hidden 6144, 64 heads, 4 KV heads,
128 experts top-4, vocab 200,064, MSA blocks of 128, top-16) with `--layers` layers: layer 0 is
full attention with the dense FFN, the others MSA with the MoE, as in M3. Random bf16 weights,
built on the GPU (no checkpoint is written). For each context: prefill tokens/s of one forward
over the whole prompt, then decode tokens/s over `--decode-steps` single-token steps on that
cache (after two warm-up steps); ours decodes with `M3TextModel.decode` (the sync-free step replayed
as a CUDA graph, what generation runs), and the ordinary one-token forward is timed too. Ours: `M3TextModel` with the Triton backend and its paged cache. Baseline, in the same
process on the same card: transformers' `MiniMaxM3SparseForConditionalGeneration` (SDPA) with
its own cache. Prefill times are medians of `--repeats` wall-clock runs between CUDA synchronisations,
after a warm-up run that also compiles the kernels.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.model.cache import PagedCache, Sequence  # noqa: E402
from core.model.checkpoint import expected_text_tensors  # noqa: E402
from core.model.config import config_from_dict  # noqa: E402
from core.model.m3 import M3TextModel  # noqa: E402


def m3_text_config(layers: int) -> dict:
    return dict(
        vocab_size=200064, hidden_size=6144, intermediate_size=3072, num_hidden_layers=layers,
        num_attention_heads=64, num_key_value_heads=4, head_dim=128, dense_intermediate_size=12288,
        shared_intermediate_size=3072, num_local_experts=128, num_experts_per_tok=4, rotary_dim=64,
        index_n_heads=4, index_head_dim=128, index_block_size=128, index_topk_blocks=16,
        max_position_embeddings=1_048_576, rms_norm_eps=1e-6,
        layer_types=["full_attention"] + ["minimax_m3_sparse"] * (layers - 1),
        mlp_layer_types=["dense"] + ["sparse"] * (layers - 1),
        rope_parameters={"rope_theta": 5_000_000.0, "rope_type": "default", "partial_rotary_factor": 0.5},
    )


class RandomWeights:
    """Stands in for a `Checkpoint`: the same names and shapes, filled with random values."""

    def __init__(self, cfg):
        shapes = expected_text_tensors(cfg)
        self.tensors = {n: SimpleNamespace(shape=s, start=0, end=2 * math.prod(s)) for n, s in shapes.items()}

    def read_into(self, name: str, out: torch.Tensor) -> None:
        out.normal_(0.0, 0.02)

    def tensor(self, name, *, dtype=None, device="cpu"):
        out = torch.empty(self.tensors[name].shape, dtype=dtype, device=device)
        self.read_into(name, out)
        return out

    def nbytes(self, names) -> int:
        return sum(self.tensors[n].end for n in names)


def timed(fn, repeats: int) -> float:
    """Median seconds of `fn()` over `repeats` runs."""
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_decode(step, steps: int, warmup: int = 2, marks: list | None = None) -> float:
    """Seconds for `steps` single-token steps after the prefill, following `warmup` warm-up steps;
    `marks` (a list) receives the clock after each step (the decode step reads a flag back, so it
    has waited for the GPU and the differences are the steps' own times)."""
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
        if marks is not None:
            marks.append(time.perf_counter())
    torch.cuda.synchronize()
    return time.perf_counter() - start


def graph_replay_ms(decoder, steps: int) -> float | None:
    """The device's time for one decode step: the captured graph replayed back to back (the same
    step each time), without the host's work between tokens."""
    if decoder is None or decoder.graph is None:
        return None
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    decoder.graph.replay()
    start.record()
    for _ in range(steps):
        decoder.graph.replay()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / steps


def bench_ours(
    cfg, context: int, steps: int, repeats: int, chunk: int = 0, warmup: int = 0, decode_warmup: int = 2,
    index_dtype: torch.dtype | None = None,
) -> dict:
    """`chunk` > 0 prefills in chunks of that many tokens, as the engine does; `warmup` > 0 warms
    up (compiles) on that many tokens instead of the whole context (for 1M, where a run is a minute)."""
    torch.cuda.reset_peak_memory_stats()
    model = M3TextModel(cfg, RandomWeights(cfg), dtype=torch.bfloat16, device="cuda")
    assert model.attention.name == "triton"
    weights = torch.cuda.memory_allocated()
    pages = -(-(context + 2 * steps + 8) // cfg.index_block_size)
    cache = PagedCache(cfg, num_pages=pages, device="cuda", index_dtype=index_dtype)
    kv = sum(t.numel() * t.element_size() for t in (*cache.k, *cache.v))
    index = sum(t.numel() * t.element_size() for t in cache.index_k.values())
    ids = torch.randint(0, cfg.vocab_size, (context,), device="cuda")
    seq = Sequence()

    def prefill(n: int = context):
        cache.release(seq)
        for start in range(0, n, chunk or n):
            model.forward(ids[start : min(n, start + (chunk or n))], cache, seq, last_only=True)

    prefill(warmup or context)  # warm-up: compiles the kernels
    torch.cuda.reset_peak_memory_stats()
    t_prefill = timed(prefill, repeats)
    peak = torch.cuda.max_memory_allocated()
    token = torch.randint(0, cfg.vocab_size, (1,), device="cuda")

    def forward_step():  # the ordinary forward for one token
        model.forward(token, cache, seq, last_only=True)

    t_forward = time_decode(forward_step, steps)
    cache.truncate(seq, context)
    marks: list[float] = []
    t_decode = time_decode(lambda: model.decode(int(token), cache, seq), steps, decode_warmup, marks)  # generation's step
    step_ms = sorted(1e3 * (b - a) for a, b in zip(marks, marks[1:], strict=False))  # the step waits for its GPU work
    replay_ms = graph_replay_ms(model._decoders.get(id(cache)), steps)
    gib = 2**-30
    return {"prefill_tok_s": context / t_prefill, "decode_tok_s": steps / t_decode, "prefill_chunk": chunk,
            "prefill_s": t_prefill, "decode_ms_per_token": 1e3 * t_decode / steps,
            "decode_forward_ms_per_token": 1e3 * t_forward / steps, "decode_graph_replay_ms": replay_ms,
            "decode_step_ms": {"min": step_ms[0], "median": statistics.median(step_ms), "max": step_ms[-1]},
            "memory_gib": {"weights": weights * gib, "kv_cache": kv * gib, "index_cache": index * gib,
                           "prefill_peak": peak * gib, "prefill_activations": (peak - weights - kv - index) * gib}}


def transformers_model(text_config: dict):
    from transformers import MiniMaxM3VLConfig
    from transformers.models.minimax_m3_vl.modeling_minimax_m3_vl import MiniMaxM3SparseForConditionalGeneration

    tiny_vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    config = MiniMaxM3VLConfig(text_config=text_config, vision_config=tiny_vision, projector_hidden_size=64)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = MiniMaxM3SparseForConditionalGeneration(config).eval()
    torch.set_default_dtype(torch.float32)
    return model


@torch.no_grad()
def bench_transformers(text_config: dict, context: int, steps: int, repeats: int) -> dict:
    model = transformers_model(text_config)
    ids = torch.randint(0, text_config["vocab_size"], (1, context), device="cuda")
    state = {}

    def prefill():
        state["cache"] = model(input_ids=ids, use_cache=True, logits_to_keep=1).past_key_values

    prefill()
    t_prefill = timed(prefill, repeats)
    token = torch.randint(0, text_config["vocab_size"], (1, 1), device="cuda")

    def step():
        model(input_ids=token, past_key_values=state["cache"], use_cache=True, logits_to_keep=1)

    t_decode = time_decode(step, steps)
    return {"prefill_tok_s": context / t_prefill, "decode_tok_s": steps / t_decode,
            "prefill_s": t_prefill, "decode_ms_per_token": 1e3 * t_decode / steps}


def free() -> None:
    gc.collect()
    torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--contexts", default="8192,32768")
    parser.add_argument("--decode-steps", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-transformers", action="store_true")
    parser.add_argument("--prefill-chunk", type=int, default=0, help="prefill in chunks of this many tokens (0: one)")
    parser.add_argument("--warmup-tokens", type=int, default=0, help="warm up on this many tokens (0: the context)")
    parser.add_argument("--decode-warmup", type=int, default=2,
                        help="decode steps before the timed ones (the first two compile and capture the graph)")
    parser.add_argument("--index-cache", choices=("bf16", "fp8"), default="bf16", help="the index-K cache's dtype")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    index_dtype = torch.float8_e4m3fn if args.index_cache == "fp8" else None
    text = m3_text_config(args.layers)
    cfg = config_from_dict({"text_config": text})
    card = torch.cuda.get_device_name()
    print(f"{card}, torch {torch.__version__}, M3 full width, {args.layers} layers, bf16, "
          f"index cache {args.index_cache}",
          flush=True)
    rows = []
    for context in (int(c) for c in args.contexts.split(",")):
        ours = bench_ours(cfg, context, args.decode_steps, args.repeats, args.prefill_chunk, args.warmup_tokens,
                          args.decode_warmup, index_dtype)
        row = {"context": context, "ours": ours}
        free()
        print(json.dumps(row), flush=True)
        if not args.skip_transformers:
            try:
                row["transformers"] = bench_transformers(text, context, args.decode_steps, args.repeats)
            except Exception as err:  # an out-of-memory or API mismatch is a result to record, not a crash
                row["transformers"] = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"}
            free()
        print(json.dumps(row), flush=True)
        rows.append(row)
    print("\n| context | ours prefill tok/s | per token vs half the context | ours decode ms/token | median step ms "
          "| graph replay ms | peak GiB |")
    for prev, r in zip([None, *rows], rows):
        o = r["ours"]
        half = prev["ours"] if prev and prev["context"] * 2 == r["context"] else None
        ratio = f"{half['prefill_tok_s'] / o['prefill_tok_s']:.2f}x" if half else "-"
        replay = o.get("decode_graph_replay_ms")
        print(f"| {r['context']} | {o['prefill_tok_s']:.0f} | {ratio} | {o['decode_ms_per_token']:.3f} | "
              f"{o['decode_step_ms']['median']:.3f} | {f'{replay:.3f}' if replay else '-'} | "
              f"{o['memory_gib']['prefill_peak']:.1f} |")
    print("\n| context | ours prefill tok/s | transformers | ratio | ours decode tok/s | transformers | ratio |")
    for r in rows:
        o, t = r["ours"], r.get("transformers", {})
        cells = [f"{o['prefill_tok_s']:.0f}"]
        for key in ("prefill_tok_s", "decode_tok_s"):
            base = t.get(key)
            if key == "decode_tok_s":
                cells.append(f"{o[key]:.1f}")
            cells += [f"{base:.1f}" if base else "-", f"{o[key] / base:.2f}x" if base else "-"]
        print(f"| {r['context']} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps({"card": card, "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__,
                                         "layers": args.layers, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
