"""Dense causal attention for the full-attention layers, on the paged cache: which kernel to use.

    python benchmarks/dense_attention.py [--cases 8k,32k,128k,128k-chunk] [--json out.json]

At the M3 attention shape (64 query heads, 4 KV heads, head_dim 128, bf16, batch 1) a chunk of
`n` new queries attends causally to `prefix + n` keys that live in pages of 128 tokens. Measured
side by side in one process, each checked first against fp32 attention on sampled query rows:
- `msa-all`: our sparse kernel with every visible block selected (what the runtime did);
- `gather`: copying the prefix pages into contiguous K and V (part of every SDPA path below);
- `flash-lower-right`: SDPA with `causal_lower_right` and GQA (the flash backend);
- `cudnn-causal` / `flash-causal` (no prefix only: square causal, top-left = bottom-right);
- `runtime`: what the runtime calls (`core/model/full_attention.py`): cuDNN square causal without a
  prefix; after one, cuDNN on the prefix (no mask) and on the chunk (causal) merged by log-sum-exp.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
import triton
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.bias import causal_lower_right

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.model.attention import dense_selection  # noqa: E402
from core.model.full_attention import cudnn_can_split, paged_causal_attention  # noqa: E402
from kernels.msa import msa_sparse_attention  # noqa: E402

H, HKV, D, B = 64, 4, 128, 128
CASES = {"8k": (8192, 0), "32k": (32768, 0), "128k": (131072, 0), "128k-chunk": (16384, 114688),
         "32k-chunk": (8192, 24576)}


def inputs(n: int, prefix: int):
    total = prefix + n
    pages = -(-total // B)
    g = torch.Generator(device="cuda").manual_seed(total)
    rnd = lambda *s: torch.randn(*s, generator=g, device="cuda", dtype=torch.bfloat16)  # noqa: E731
    table = torch.randperm(pages, generator=g, device="cuda").to(torch.int32)[None]  # [1, P] shuffled pages
    return rnd(n, H, D), rnd(pages, HKV, B, D), rnd(pages, HKV, B, D), table


def gather(cache: torch.Tensor, table: torch.Tensor, total: int) -> torch.Tensor:
    """Pages `[P, Hkv, B, D]` in table order -> `[1, Hkv, total, D]` contiguous."""
    return cache[table[0].long()].transpose(0, 1).reshape(1, HKV, -1, D)[:, :, :total]


def reference_rows(q, k, v, prefix: int, rows: torch.Tensor) -> torch.Tensor:
    """fp32 causal attention of the query `rows` only: `[len(rows), H, D]`."""
    out = []
    for r in rows.tolist():
        kk = k[0, :, : prefix + r + 1].float().repeat_interleave(H // HKV, 0)  # [H, t, D]
        vv = v[0, :, : prefix + r + 1].float().repeat_interleave(H // HKV, 0)
        p = torch.softmax(torch.einsum("hd,htd->ht", q[r].float(), kk) * D**-0.5, -1)
        out.append(torch.einsum("ht,htd->hd", p, vv))
    return torch.stack(out)


def methods(n: int, prefix: int, q, kc, vc, table):
    total = prefix + n
    seq = torch.tensor([total], dtype=torch.int32, device="cuda")
    cu = torch.tensor([0, n], dtype=torch.int32, device="cuda")
    positions = torch.arange(prefix, total, device="cuda")
    sel = dense_selection(positions, HKV, B)
    q4 = q.transpose(0, 1)[None]  # [1, H, n, D] view

    def sdpa(backend, **kw):
        def run():
            k, v = gather(kc, table, total), gather(vc, table, total)
            with sdpa_kernel(backend):
                return F.scaled_dot_product_attention(q4, k, v, enable_gqa=True, **kw)[0].transpose(0, 1)
        return run

    out = {"msa-all": lambda: msa_sparse_attention(q, kc, vc, table, cu, seq, sel),
           "gather": lambda: (gather(kc, table, total), gather(vc, table, total)),
           "flash-lower-right": sdpa(SDPBackend.FLASH_ATTENTION, attn_mask=causal_lower_right(n, total))}
    if prefix == 0:
        out["cudnn-causal"] = sdpa(SDPBackend.CUDNN_ATTENTION, is_causal=True)
        out["flash-causal"] = sdpa(SDPBackend.FLASH_ATTENTION, is_causal=True)
    out["runtime"] = lambda: paged_causal_attention(q, kc, vc, table, prefix)  # gather included
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print(torch.__version__, triton.__version__, torch.cuda.get_device_name())
    results = []
    for case in args.cases.split(","):
        n, prefix = CASES[case]
        q, kc, vc, table = inputs(n, prefix)
        total = prefix + n
        k, v = gather(kc, table, total), gather(vc, table, total)
        if prefix:
            print(f"{case}: cuDNN takes the split: {cudnn_can_split(q, debug=True)}")
        rows = torch.tensor(sorted({0, 1, 127, 128, n // 2, n - 2, n - 1}), device="cuda")
        ref = reference_rows(q, k, v, prefix, rows)
        flop = 4 * D * H * (prefix * n + n * (n + 1) / 2)  # every query with every causal key
        for name, fn in methods(n, prefix, q, kc, vc, table).items():
            try:
                res = fn()
                if name != "gather":
                    err = float((res[rows].float() - ref).abs().max())
                    if err > 3e-2:
                        raise AssertionError(f"max abs error {err:.3g} against fp32")
                ms = triton.testing.do_bench(fn, warmup=5, rep=30 if total > 65536 else 100)
            except Exception as e:  # noqa: BLE001 - a backend that refuses is reported, not fatal
                print(f"{case:>10} {name:>18}: {type(e).__name__}: {str(e).splitlines()[0][:160]}")
                results.append({"case": case, "method": name, "error": str(e)[:500]})
                continue
            tflops = flop / ms / 1e9 if name != "gather" else float("nan")
            print(f"{case:>10} {name:>18}: {ms:9.3f} ms {tflops:7.1f} TFLOP/s")
            results.append({"case": case, "n": n, "prefix": prefix, "method": name, "ms": ms, "tflops": tflops})
        del q, kc, vc, k, v
        torch.cuda.empty_cache()
    if args.json:
        args.json.write_text(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                                         "triton": triton.__version__, "results": results}, indent=1))


if __name__ == "__main__":
    main()
