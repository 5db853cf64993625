"""The MoE expert mix of decode on one GPU at the M3 shape: grouped GEMV vs gather vs grouped_mm.

    python benchmarks/moe_decode.py [--tokens 1,4] [--sweep] [--graph] [--json out.json]

E = 128 experts, H = 6144, I = 3072, top-4, bf16 weights, random data (14.5 GB of experts, far
beyond L2). For each token count it times, with `triton.testing.do_bench` (median; `--graph`:
as CUDA-graph replays, as the decode step runs them):
  kernel    kernels.moe.launch_expert_mix (the grouped GEMV, experts read in place by id)
  gather    layers.mix_by_gathering (what mix_gathered_experts ran before: copy w[e], then bmm)
  sorted    layers.mix_experts (torch._grouped_mm on Hopper)
after checking each against the fp32 reference. GB/s counts the weights a mix must read: the
distinct chosen experts x 3 matrices x I x H x 2 bytes. A device-to-device copy gives the card's
bandwidth in the same run; "x gather" is the gather time over the method's (> 1: faster).
`--sweep` also times the kernel over a few tile shapes (up and down stages alike).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch
import triton

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.model import layers  # noqa: E402
from kernels.moe import Tiles, launch_expert_mix, moe_expert_mix, reference  # noqa: E402
from kernels.moe.gemv import GPU_TILES  # noqa: E402

EXPERTS, HIDDEN, INTER, TOP_K = 128, 6144, 3072, 4
DEVICE = "cuda"
KW = dict(alpha=1.702, limit=7.0)
SWEEP = [Tiles(r, c, r, c, w) for r in (8, 16, 32) for c in (128, 256, 512) for w in (4, 8)]


def make_experts(dtype=torch.bfloat16):
    g = torch.Generator(device=DEVICE).manual_seed(0)
    w1, w3 = (
        torch.randn(EXPERTS, INTER, HIDDEN, generator=g, device=DEVICE, dtype=dtype) * HIDDEN**-0.5 for _ in range(2)
    )
    w2 = torch.randn(EXPERTS, HIDDEN, INTER, generator=g, device=DEVICE, dtype=dtype) * INTER**-0.5
    return w1, w3, w2


def make_tokens(n_tokens: int, dtype=torch.bfloat16):
    g = torch.Generator(device=DEVICE).manual_seed(n_tokens)
    x = torch.randn(n_tokens, HIDDEN, generator=g, device=DEVICE, dtype=dtype) * 4  # gate std ~4: the clamp bites
    chosen = torch.rand(n_tokens, EXPERTS, generator=g, device=DEVICE).topk(TOP_K, dim=-1).indices  # distinct per token
    weights = torch.rand(n_tokens, TOP_K, generator=g, device=DEVICE) + 0.1
    return x, weights / weights.sum(-1, keepdim=True), chosen


def methods(experts):
    w1, w3, w2 = experts
    return {
        "kernel": lambda x, wt, ch: launch_expert_mix(x, wt, ch, w1, w3, w2, **KW),
        "gather": lambda x, wt, ch: layers.mix_by_gathering(x, wt, ch, w1, w3, w2, **KW),
        "sorted": lambda x, wt, ch: layers.mix_experts(x, wt, ch, w1, w3, w2, **KW),
    }


def check(experts, n_tokens: int) -> dict[str, float]:
    """Relative error of every method against the fp32 reference (checked call for the kernel)."""
    x, wt, ch = make_tokens(n_tokens)
    ref = reference.expert_mix(x, wt, ch, *experts, **KW)
    errors = {}
    for name, fn in methods(experts).items():
        out = moe_expert_mix(x, wt, ch, *experts, **KW) if name == "kernel" else fn(x, wt, ch)
        errors[name] = float((out.float() - ref).norm() / ref.norm())
        assert errors[name] < 2e-2, f"{name} at T={n_tokens}: relative error {errors[name]:.3g} vs the fp32 reference"
    print(f"check T={n_tokens}: " + "  ".join(f"{k} {v:.2e}" for k, v in errors.items()), flush=True)
    return errors


def time_ms(fn, graph: bool) -> float:
    fn()  # compile and allocate outside the timed runs
    torch.cuda.synchronize()
    if graph:
        return triton.testing.do_bench_cudagraph(fn, rep=200, return_mode="median")
    return triton.testing.do_bench(fn, warmup=50, rep=300, return_mode="median")


def copy_gbs() -> float:
    """Device-to-device copy bandwidth (read + write) of a 2 GB buffer."""
    src = torch.empty(2**30, dtype=torch.bfloat16, device=DEVICE)
    dst = torch.empty_like(src)
    ms = triton.testing.do_bench(lambda: dst.copy_(src), warmup=10, rep=100, return_mode="median")
    return 2 * src.numel() * 2 / ms / 1e6


def run_tokens(experts, n_tokens: int, graph: bool, sweep: bool) -> dict:
    x, wt, ch = make_tokens(n_tokens)
    needed = ch.unique().numel() * 3 * INTER * HIDDEN * 2  # bytes of weights the mix must read
    row: dict = {"tokens": n_tokens, "distinct_experts": ch.unique().numel(), "needed_gb": needed / 1e9}
    for name, fn in methods(experts).items():
        try:
            row[f"{name}_ms"] = time_ms(lambda fn=fn: fn(x, wt, ch), graph)
        except RuntimeError as err:  # e.g. a host sync inside a graph capture: reported, not fatal
            print(f"T={n_tokens} {name}: {str(err).splitlines()[0]}", flush=True)
            row[f"{name}_ms"] = float("nan")
        row[f"{name}_gbs"] = needed / row[f"{name}_ms"] / 1e6
    if sweep:
        w1, w3, w2 = experts
        row["sweep"] = []
        for tiles in SWEEP:
            run = lambda tiles=tiles: launch_expert_mix(x, wt, ch, w1, w3, w2, **KW, tiles=tiles)  # noqa: E731
            ms = time_ms(run, graph)
            row["sweep"].append({**dataclasses.asdict(tiles), "ms": ms, "gbs": needed / ms / 1e6})
            print(f"  T={n_tokens} {tiles}: {ms * 1e3:.1f} us  {needed / ms / 1e6:.0f} GB/s", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", default="1,4", help="token counts, comma-separated")
    parser.add_argument("--graph", action="store_true", help="time CUDA-graph replays (do_bench_cudagraph)")
    parser.add_argument("--sweep", action="store_true", help="also time the kernel over a few tile shapes")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    card = torch.cuda.get_device_name()
    print(f"card: {card}  torch {torch.__version__}  triton {triton.__version__}  default tiles {GPU_TILES}")
    experts = make_experts()
    tokens = [int(t) for t in args.tokens.split(",")]
    errors = {t: check(experts, t) for t in tokens}
    copy = copy_gbs()
    rows = [run_tokens(experts, t, args.graph, args.sweep) for t in tokens]
    print(
        f"\ncard: {card}  E={EXPERTS} H={HIDDEN} I={INTER} k={TOP_K} bf16  copy {copy:.0f} GB/s (read + write)  "
        f"timing: {'CUDA graph' if args.graph else 'do_bench'} median"
    )
    print(f"{'T':>3}{'experts':>9}{'method':>8}{'us':>9}{'GB/s':>8}{'x gather':>10}{'rel err':>10}")
    for r in rows:
        for name in ("kernel", "gather", "sorted"):
            print(
                f"{r['tokens']:>3}{r['distinct_experts']:>9}{name:>8}{r[name + '_ms'] * 1e3:>9.1f}"
                f"{r[name + '_gbs']:>8.0f}{r['gather_ms'] / r[name + '_ms']:>10.2f}{errors[r['tokens']][name]:>10.1e}"
            )
    for r in rows:
        if "sweep" in r:
            best = min(r["sweep"], key=lambda c: c["ms"])
            print(f"best tiles at T={r['tokens']}: {best}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "card": card,
                    "date": time.strftime("%Y-%m-%d"),
                    "torch": torch.__version__,
                    "triton": triton.__version__,
                    "shape": {"E": EXPERTS, "H": HIDDEN, "I": INTER, "k": TOP_K, "dtype": "bfloat16"},
                    "graph": args.graph,
                    "default_tiles": dataclasses.asdict(GPU_TILES),
                    "copy_gbs": copy,
                    "errors": errors,
                    "rows": rows,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
