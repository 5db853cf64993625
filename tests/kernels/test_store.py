"""The cache-write kernel against tensor indexing: K, V and index keys land on their pages and
slots, nothing else in the caches changes, and fp8 index keys are stored exactly as
`index_keys_for_cache` stores them (clamped to ±448, NaN kept)."""

import pytest
import torch

from kernels.msa import INDEX_FP8, index_keys_for_cache, launch_cache_write


def caches(pages, heads, block, dim, di, dtype, index_dtype, device):
    kv = [torch.full((pages, heads, block, dim), float("nan"), dtype=dtype, device=device) for _ in range(2)]
    return (*kv, torch.full((pages, block, di), -3.0, dtype=torch.float32).to(index_dtype).to(device))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("heads", [4, 3])  # 3: a padded head axis
@pytest.mark.parametrize("index_dtype", ["same", INDEX_FP8, None])  # None: a full-attention layer
def test_writes_land_on_their_slots_only(dtype, heads, index_dtype, device):
    if index_dtype == INDEX_FP8 and device == "cuda" and torch.cuda.get_device_capability() < (8, 9):
        pytest.skip("compiled Triton has no e4m3 below compute capability 8.9")
    g = torch.Generator().manual_seed(heads)
    n, block, dim, di = 5, 16, 32, 64
    fused = torch.randn(n, 3 * heads * dim, generator=g).to(device, dtype)  # k and v as views, as the model has them
    k = fused[:, : heads * dim].view(n, heads, dim)
    v = fused[:, 2 * heads * dim :].view(n, heads, dim)
    ik = torch.randn(n, di, generator=g) * 100  # beyond ±448 for a few elements after the next line
    ik[0, :4] = torch.tensor([1000.0, -1000.0, float("nan"), 2.0**-12])
    ik = ik.to(device, dtype)
    pages = torch.tensor([6, 2, 2, 0, 7], device=device)
    slots = torch.tensor([15, 0, 9, 3, 7], device=device)
    kind = dtype if index_dtype == "same" else index_dtype
    ours = caches(8, heads, block, dim, di, dtype, kind or dtype, device)
    ref = [t.clone() for t in ours]
    launch_cache_write(k, v, ik if kind else None, pages, slots, ours[0], ours[1], ours[2] if kind else None)
    ref[0][pages, :, slots] = k
    ref[1][pages, :, slots] = v
    if kind:
        ref[2][pages, slots] = index_keys_for_cache(ik, kind)
    for out, want in zip(ours, ref):
        out, want = out.cpu().float(), want.cpu().float()
        assert torch.equal(out.isnan(), want.isnan()), "a slot was written that should not be, or missed"
        assert torch.equal(out.nan_to_num(), want.nan_to_num())
    if kind == INDEX_FP8:
        stored = ours[2][6, 15, :4]  # token 0: page 6, slot 15.float().cpu()
        assert stored[:2].tolist() == [448.0, -448.0] and stored[2].isnan() and stored[3] == 2.0**-12


def test_no_tokens_is_a_no_op(device):
    k, v, ik = (torch.empty(0, 4, 32, device=device) for _ in range(3))
    kc, vc, ic = caches(2, 4, 16, 32, 32, torch.float32, torch.float32, device)
    launch_cache_write(k, v, ik[:, 0], torch.empty(0, dtype=torch.long, device=device),
                       torch.empty(0, dtype=torch.long, device=device), kc, vc, ic)
    assert kc.isnan().all() and (ic == -3.0).all()


def test_fp8_keys_round_as_torch_casts_them(device):
    """Every e4m3 value, the midpoints between neighbours (ties to even) and one fp32 step either
    side of them, subnormals, values past ±448 and random values of every magnitude: the stored
    byte is torch's cast of the clamped key (`index_keys_for_cache`)."""
    if device == "cuda" and torch.cuda.get_device_capability() < (8, 9):
        pytest.skip("compiled Triton has no e4m3 below compute capability 8.9")
    grid = torch.arange(256, dtype=torch.uint8).view(INDEX_FP8).float()
    grid = grid[grid.isfinite() & (grid >= 0)].unique()  # 0 .. 448
    mid = (grid[1:] + grid[:-1]) / 2
    step = torch.nextafter(mid, torch.full_like(mid, 1e9)) - mid
    g = torch.Generator().manual_seed(1)
    wide = torch.exp2(torch.rand(4000, generator=g) * 22 - 12)  # 2^-12 .. 2^10
    x = torch.cat([grid, mid, mid + step, mid - step, wide, torch.tensor([449.0, 1e30, float("inf"), 2.0**-10])])
    x = torch.cat([x, -x])
    x = torch.cat([x, x.new_zeros(-x.numel() % 64)]).view(-1, 64)
    n = x.shape[0]
    kv = torch.zeros(n, 1, 16, device=device)
    cache = torch.zeros(n, 1, 64, dtype=INDEX_FP8, device=device)
    kc, vc = (torch.zeros(n, 1, 1, 16, device=device) for _ in range(2))
    rows = torch.arange(n, device=device)
    launch_cache_write(kv, kv, x.to(device), rows, torch.zeros_like(rows), kc, vc, cache)
    want = index_keys_for_cache(x, INDEX_FP8)[:, None]
    assert torch.equal(cache.cpu().view(torch.uint8), want.view(torch.uint8))
