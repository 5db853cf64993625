"""Attention backends of the M3 runtime: Triton MSA kernels on CUDA, the fp32 reference elsewhere.

Both backends take the same paged inputs (`kernels/msa/layout.py`) and have the same two calls,
`select` (index scores -> top-k blocks) and `attend` (exact attention over selected blocks), so
the model never branches on the backend. Dense layers are MSA with every visible block
selected (`dense_selection`); the selection is padded to a power of two so the Triton kernels,
which specialise on its width, compile a handful of times rather than once per context length.
`full` is the full-attention layers' call: the Triton backend runs a prefill chunk's dense layers
through SDPA on the gathered pages (`full_attention.py`), the others through `attend`.
The backend is chosen once, in `choose_attention`, with the reason logged; its `name` argument
forces one (the settings pass the user's choice; tests run the Triton path under the interpreter
on the CPU). Choosing Triton for a config checks the config's sizes against what the kernels
support, so an unsupported model is refused at load, not at its first forward; `check_index_cache`
does the same for an fp8 index-K cache on a GPU whose Triton has no e4m3. Everything comes
from `kernels.msa`'s public surface, never from its modules.
"""

from __future__ import annotations

import logging
from typing import NamedTuple, Protocol

import torch

from .config import ConfigError, M3Config
from .full_attention import paged_causal_attention

log = logging.getLogger(__name__)

BACKENDS = ("reference", "triton")
MAX_DECODE_TOKENS = 16  # at most this many new tokens take the split (decode) kernels


class Paging(NamedTuple):
    """One sequence's paged view: int32 block table `[1, blocks]`, cu_seqlens `[2]`, lengths `[1]`."""

    block_table: torch.Tensor
    cu_seqlens_q: torch.Tensor
    seq_lens: torch.Tensor


class FullStep(Protocol):
    """What `full` reads of a forward's `Step` (step.py), named here so neither module imports the other."""

    paging: Paging
    start: int | None  # the first new token's position, when known on the host

    @property
    def dense(self) -> torch.Tensor: ...  # int32 [Hkv, n, k]: every visible block


def selection_width(blocks: int) -> int:
    """The selection width of `blocks` visible blocks: a power of two, at least 16."""
    return max(16, 1 << (blocks - 1).bit_length())


def dense_selection(positions: torch.Tensor, n_kv: int, block: int, width: int | None = None) -> torch.Tensor:
    """Every visible block of each query, ascending (so the local block is the last valid entry).

    positions `[n]` absolute; returns int32 `[n_kv, n, k]`, -1 padded, k = `width` or else the
    power of two >= 16 that holds them (found with one host sync; pass `width` to avoid it).
    """
    width = width or selection_width(int(positions.max()) // block + 1)
    ids = torch.arange(width, device=positions.device, dtype=torch.int32)  # [k]
    sel = torch.where(ids[None, :] <= (positions[:, None] // block), ids[None, :], -1)  # [n, k]
    return sel.to(torch.int32)[None].expand(n_kv, -1, -1).contiguous()


class ReferenceAttention:
    """The fp32 reference of `kernels.msa` (dense masks: for the CPU and small contexts)."""

    name = "reference"

    def select(self, iq, index_k_cache, paging: Paging, positions, *, topk, init_blocks, local_blocks):
        from kernels.msa import check_finite_index_queries, reference

        check_finite_index_queries(iq)  # as the Triton backend's checks: non-finite index scores are an error
        scores = reference.block_scores(iq, index_k_cache, *paging)
        return reference.topk_blocks(
            scores,
            positions.to(torch.int32),
            topk=topk,
            block_size=index_k_cache.shape[1],
            init_blocks=init_blocks,
            local_blocks=local_blocks,
        )

    def attend(self, q, k_cache, v_cache, paging: Paging, selection):
        from kernels.msa import reference

        return reference.sparse_attention(q, k_cache, v_cache, *paging, selection).to(q.dtype)

    def full(self, q, k_cache, v_cache, step: FullStep):
        """A full-attention layer: the reference with every visible block selected."""
        return self.attend(q, k_cache, v_cache, step.paging, step.dense)


class TritonAttention:
    """The Triton kernels: prefill pipeline for long chunks, split decode kernels for a few tokens."""

    name = "triton"

    def select(self, iq, index_k_cache, paging: Paging, positions, *, topk, init_blocks, local_blocks):
        from kernels.msa import msa_decode_select, msa_select

        pick = msa_decode_select if iq.shape[0] <= MAX_DECODE_TOKENS else msa_select
        return pick(iq, index_k_cache, *paging, topk=topk, init_blocks=init_blocks, local_blocks=local_blocks)

    def attend(self, q, k_cache, v_cache, paging: Paging, selection):
        from kernels.msa import decode_splits, msa_decode_attention, msa_sparse_attention

        if q.shape[0] <= MAX_DECODE_TOKENS:
            splits = decode_splits(selection.shape[2])
            return msa_decode_attention(q, k_cache, v_cache, *paging, selection, num_splits=splits)
        return msa_sparse_attention(q, k_cache, v_cache, *paging, selection)

    def full(self, q, k_cache, v_cache, step: FullStep):
        """A full-attention layer: dense SDPA on the gathered pages for a prefill chunk whose first
        position is known on the host, the decode kernels over every visible block for a few tokens."""
        if step.start is None or q.shape[0] <= MAX_DECODE_TOKENS:
            return self.attend(q, k_cache, v_cache, step.paging, step.dense)
        return paged_causal_attention(q, k_cache, v_cache, step.paging.block_table, step.start)


class StaticDecodeAttention:
    """The Triton decode kernels for one new token over a fixed-width block table, called without
    the checks that read device values: no host sync, so a CUDA graph can capture the step.
    Instead of the checked functions' error on a NaN/inf index query, `select` ORs it into the
    device flag `nonfinite` (reset by the step, read by it after the replay); meanwhile the
    kernels rank a NaN score last, so the step never reads outside the block table."""

    name = "triton-static"

    def __init__(self, max_blocks: int, positions: torch.Tensor, seq_ids: torch.Tensor):
        self.max_blocks, self.positions, self.seq_ids = max_blocks, positions, seq_ids  # int32 [1] buffers
        self.nonfinite = torch.zeros((), dtype=torch.bool, device=positions.device)

    def select(self, iq, index_k_cache, paging: Paging, positions, *, topk, init_blocks, local_blocks):
        from kernels.msa import default_blocks_per_split, launch_candidates, launch_topk

        torch.logical_or(self.nonfinite, ~torch.isfinite(iq).all(), out=self.nonfinite)  # no sync: graph-safe

        cand_s, cand_i = launch_candidates(
            iq,
            index_k_cache,
            *paging,
            max_q_len=1,
            max_blocks=self.max_blocks,
            blocks_per_split=default_blocks_per_split(self.max_blocks, 1),
            topk=topk,
            init_blocks=init_blocks,
            local_blocks=local_blocks,
        )
        out = torch.empty((iq.shape[1], iq.shape[0], topk), dtype=torch.int32, device=iq.device)  # [Hi, 1, k]
        return launch_topk(
            cand_s,
            cand_i,
            self.positions,
            out,
            block_size=index_k_cache.shape[1],
            topk=topk,
            init_blocks=init_blocks,
            local_blocks=local_blocks,
        )

    def attend(self, q, k_cache, v_cache, paging: Paging, selection, *, visible_prefix: bool = False):
        from kernels.msa import decode_splits, launch_decode_attention

        return launch_decode_attention(
            q,
            k_cache,
            v_cache,
            paging.block_table,
            selection,
            self.seq_ids,
            self.positions,
            paging.seq_lens,
            torch.empty_like(q),
            softmax_scale=q.shape[2] ** -0.5,
            num_splits=decode_splits(selection.shape[2]),  # the width is fixed: graph-safe
            visible_prefix=visible_prefix,
        )

    def full(self, q, k_cache, v_cache, step: FullStep):
        """A full-attention layer in the captured step: the decode kernels, every block selected.
        The selection is as wide as the block table (fixed, for the graph); the kernel stops at
        the visible blocks."""
        return self.attend(q, k_cache, v_cache, step.paging, step.dense, visible_prefix=True)


AttentionBackend = ReferenceAttention | TritonAttention | StaticDecodeAttention


def choose_attention(device: torch.device | str, name: str | None = None, *, cfg: M3Config | None = None):
    """The backend for `device`: `name` if given, else Triton on CUDA and the reference elsewhere.

    With `cfg`, a Triton choice is refused (ConfigError naming the field) when the kernels
    cannot run that model; the reference backend computes any size."""
    from kernels.msa import interpreting

    device = torch.device(device)
    if name is not None and name not in BACKENDS:
        raise ValueError(f"attention backend {name!r} is unknown; choose one of {', '.join(BACKENDS)}")
    if name == "triton" and device.type != "cuda" and not interpreting():
        raise ValueError(
            "the Triton backend needs a CUDA device, or TRITON_INTERPRET=1 set before start "
            "(the slow interpreter, for tests)"
        )
    if name:
        chosen, reason = name, "forced by the caller"
    elif device.type == "cuda":
        chosen, reason = "triton", f"CUDA device {torch.cuda.get_device_name(device)}"
    else:
        chosen, reason = "reference", f"no CUDA device ({device.type}): the fp32 reference path"
    if chosen == "triton" and cfg is not None:
        check_triton_sizes(cfg)
    log.info("attention backend: %s (%s)", chosen, reason)
    return TritonAttention() if chosen == "triton" else ReferenceAttention()


def check_triton_sizes(cfg: M3Config) -> None:
    """ConfigError unless the Triton kernels support the config's head dims, block and top-k."""
    from kernels.msa import check_shapes

    try:
        check_shapes(
            head_dim=cfg.head_dim,
            index_head_dim=cfg.index_head_dim if cfg.sparse_layers else None,
            block_size=cfg.index_block_size,
            topk=cfg.index_topk_blocks,
            init_blocks=cfg.index_init_blocks,
            local_blocks=cfg.index_local_blocks,
        )
    except ValueError as err:
        raise ConfigError(
            f"config.json: the Triton attention kernels cannot run this model ({err}; the config fields are "
            f"head_dim={cfg.head_dim}, index_head_dim={cfg.index_head_dim}, index_block_size={cfg.index_block_size}, "
            f"index_topk_blocks={cfg.index_topk_blocks}, index_local_blocks={cfg.index_local_blocks}); "
            "choose the reference attention backend (slow) or a model with supported sizes"
        ) from err


def check_index_cache(device: torch.device | str, name: str | None, index_dtype: torch.dtype) -> None:
    """ValueError unless the backend for `device` (`name` forced, as in `choose_attention`) reads an
    index-K cache of `index_dtype`, so a cache it cannot read is refused at load, not at its first
    forward. The reference upcasts the stored keys to fp32 (exact for e4m3), so it reads fp8 on any
    device, the CPU included; the compiled Triton kernels have no e4m3 below compute capability 8.9."""
    from kernels.msa import INDEX_FP8, check_fp8_device, check_index_cache_dtype

    check_index_cache_dtype("index_dtype", index_dtype)
    if index_dtype == INDEX_FP8 and name != "reference":  # on CUDA the backend is Triton unless forced
        check_fp8_device(torch.device(device))
