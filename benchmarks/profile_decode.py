"""Where one decode step of the runtime's slice goes, kernel by kernel (torch.profiler).

    python benchmarks/profile_decode.py [--contexts 8192,131072] [--layers 3] [--fp8]

Builds the full-width M3 slice of `m3_runtime.py` (random bf16 weights), prefills each context,
then profiles `--steps` decode steps as generation runs them (`M3TextModel.decode`: the sync-free
step replayed as a CUDA graph) and prints each kernel's time per step, longest first: the
table to read before changing the step. With `--fp8` the index-K cache is fp8 (the eager step).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from m3_runtime import RandomWeights, m3_text_config  # noqa: E402

from core.model.cache import PagedCache, Sequence  # noqa: E402
from core.model.config import config_from_dict  # noqa: E402
from core.model.m3 import M3TextModel  # noqa: E402


def kernel_table(prof, steps: int, rows: int) -> str:
    """Kernels by total device time, in microseconds per step."""
    events = [e for e in prof.key_averages() if e.device_time_total > 0 and e.device_type.name == "CUDA"]
    events.sort(key=lambda e: e.device_time_total, reverse=True)
    total = sum(e.device_time_total for e in events) / steps
    lines = [f"{'us/step':>9} {'calls':>6}  kernel (all kernels: {total:.1f} us/step)"]
    for e in events[:rows]:
        lines.append(f"{e.device_time_total / steps:>9.1f} {e.count // steps:>6}  {e.key[:110]}")
    return "\n".join(lines)


def profile_context(model, cfg, context: int, steps: int, rows: int, index_dtype, forward_steps: int = 0) -> None:
    extra = 4 * steps + forward_steps + 8
    cache = PagedCache(cfg, num_pages=-(-(context + extra) // cfg.index_block_size), device="cuda",
                       index_dtype=index_dtype)
    seq = Sequence()
    ids = torch.randint(0, cfg.vocab_size, (context,), device="cuda")
    chunk = 16384
    for start in range(0, context, chunk):
        model.forward(ids[start : start + chunk], cache, seq, last_only=True)
    token = torch.tensor([7], device="cuda")
    for _ in range(forward_steps):  # as m3_runtime.py does before its decode timing: host-bound steps
        model.forward(token, cache, seq, last_only=True)
    cache.truncate(seq, context)
    for _ in range(3):  # capture and warm the graph
        model.decode(7, cache, seq)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(steps):
        model.decode(7, cache, seq)
    end.record()
    torch.cuda.synchronize()
    stepped = start.elapsed_time(end) / steps
    decoder = model._decoders[id(cache)]
    start.record()
    for _ in range(steps):  # the graph alone: the device's time for a step
        decoder.graph.replay()
    end.record()
    torch.cuda.synchronize()
    replay = start.elapsed_time(end) / steps
    begin = time.perf_counter()
    for _ in range(steps):  # as benchmarks/m3_runtime.py times it: the token read back each step
        model.decode(int(token), cache, seq)
    torch.cuda.synchronize()
    synced = (time.perf_counter() - begin) * 1e3 / steps
    print(f"\n== context {context}: {stepped:.3f} ms a step ({steps} steps; graph replays alone {replay:.3f} ms, "
          f"with the token read back as m3_runtime.py does {synced:.3f} ms)")
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            model.decode(7, cache, seq)
        torch.cuda.synchronize()
    print(kernel_table(prof, steps, rows))
    del cache
    torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", default="8192,131072")
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rows", type=int, default=30)
    parser.add_argument("--fp8", action="store_true", help="fp8 (e4m3) index-K cache")
    parser.add_argument("--forward-steps", type=int, default=0,
                        help="ordinary one-token forwards before decoding, as m3_runtime.py runs them first")
    args = parser.parse_args()
    cfg = config_from_dict({"text_config": m3_text_config(args.layers)})
    model = M3TextModel(cfg, RandomWeights(cfg), dtype=torch.bfloat16, device="cuda")
    print(f"card: {torch.cuda.get_device_name()}  torch {torch.__version__}")
    index_dtype = torch.float8_e4m3fn if args.fp8 else None
    for context in (int(c) for c in args.contexts.split(",")):
        profile_context(model, cfg, context, args.steps, args.rows, index_dtype, args.forward_steps)


if __name__ == "__main__":
    main()
