"""The full-attention layers' SDPA path against the MSA reference with every block selected.

`paged_causal_attention` gathers a sequence's pages (shuffled here, as a reused cache leaves
them) and runs SDPA: square causal for a first chunk, bottom-right causal after a prefix. Both
must equal the fp32 reference of MSA.md §5 over every visible block, at odd lengths that end
inside a page, with GQA, in fp32 and bf16.
"""

import pytest
import torch

from core.model.attention import dense_selection
from core.model.full_attention import gather_pages, paged_causal_attention
from kernels.msa import reference

H, HKV, D, B = 8, 2, 32, 16


def paged(total: int, dtype, seed: int, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    pages = -(-total // B) + 3  # spare pages: the table names only some of them
    k, v = (torch.randn(pages, HKV, B, D, generator=g).to(device, dtype) for _ in range(2))
    table = torch.randperm(pages, generator=g)[None, : -(-total // B)].to(device, torch.int32)
    return k, v, table


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(("start", "n"), [(0, 1), (0, 63), (0, 129), (5, 17), (70, 17), (128, 40), (33, 200)])
def test_equals_the_reference_over_every_block(start, n, dtype, device):
    """On the test device: SDPA's math kernel on a CPU, cuDNN (no prefix) or flash (after one) on CUDA."""
    total = start + n
    k, v, table = paged(total, dtype, seed=total * 7 + n, device=device)
    q = torch.randn(n, H, D, generator=torch.Generator().manual_seed(n)).to(device, dtype)
    out = paged_causal_attention(q, k, v, table, start)
    assert out.shape == (n, H, D) and out.dtype == dtype
    sel = dense_selection(torch.arange(start, total, device=device), HKV, B)
    lens = torch.tensor([0, n], dtype=torch.int32, device=device), torch.tensor([total], dtype=torch.int32, device=device)
    ref = reference.sparse_attention(q, k, v, table, *lens, sel)
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(out.float(), ref, rtol=tol, atol=tol)


def test_gather_follows_the_block_table():
    k, _, table = paged(50, torch.float32, seed=1)
    out = gather_pages(k, table, 50)  # [1, Hkv, 50, D]
    for t in (0, 15, 16, 49):
        torch.testing.assert_close(out[0, :, t], k[table[0, t // B], :, t % B])
