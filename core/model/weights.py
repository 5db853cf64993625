"""Loading the M3 text weights: upstream names mapped onto per-layer tensors, once, at load time.

Every destination tensor is allocated on the target device in the target dtype and filled
straight from the memory-mapped shard (`Checkpoint.read_into`), so loading never holds two
copies: experts are stacked `[E, I, H]` by reading each one into its slice of the stack, and the
matrices that multiply the same input (q, k, v and the index projections; gate and up) are read
into one, so each is one GEMM (in decode, one weight read instead of five small ones). Layers
load in order and a `LoadProgress` goes to the callback after each, so a UI can show progress.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from core.events import LoadProgress

from .checkpoint import TEXT, Checkpoint
from .config import MOE_MLP, SPARSE, M3Config


@dataclass
class LayerWeights:
    input_norm: torch.Tensor
    post_norm: torch.Tensor
    qkv: torch.Tensor  # [H*D + 2*Hkv*D (+ Hi*Di + Di), hidden]: q, k, v (and index q, k) stacked, one GEMM
    qkv_split: tuple[int, ...]  # the row counts of q, k, v (, index q, index k) in `qkv`
    o: torch.Tensor  # [hidden, H*D]
    q_norm: torch.Tensor  # [D]
    k_norm: torch.Tensor
    index: dict[str, torch.Tensor] | None  # sparse layers: q_norm, k_norm (the projections are in qkv)
    # dense: gate_up [2I, H], down; MoE: router, bias, w1, w3, w2 [E, ...] (E + 1: the shared expert
    # last, when it is as wide as a routed one), else shared_gate_up, shared_down
    mlp: dict[str, torch.Tensor]


class _Reader:
    """Reads upstream tensors onto one device and dtype, counting bytes for progress."""

    def __init__(self, ckpt: Checkpoint, dtype: torch.dtype, device):
        self.ckpt, self.dtype, self.device, self.bytes = ckpt, dtype, device, 0

    def __call__(self, name: str) -> torch.Tensor:
        self.bytes += self.ckpt.nbytes([TEXT + name])
        return self.ckpt.tensor(TEXT + name, dtype=self.dtype, device=self.device)

    def rows(self, names: list[str]) -> tuple[torch.Tensor, tuple[int, ...]]:
        """Matrices with the same columns read into one `[sum of rows, cols]` tensor (one GEMM
        instead of several small ones), and their row counts."""
        shapes = [self.ckpt.tensors[TEXT + n].shape for n in names]
        sizes = tuple(s[0] for s in shapes)
        out = torch.empty((sum(sizes), *shapes[0][1:]), dtype=self.dtype, device=self.device)
        for part, name in zip(out.split(sizes), names, strict=True):
            self.ckpt.read_into(TEXT + name, part)
        self.bytes += self.ckpt.nbytes([TEXT + n for n in names])
        return out, sizes

    def stacked(self, names: list[str]) -> torch.Tensor:
        first = self.ckpt.tensors[TEXT + names[0]].shape
        out = torch.empty((len(names), *first), dtype=self.dtype, device=self.device)  # [E, ...]
        for slot, name in zip(out, names, strict=True):
            self.ckpt.read_into(TEXT + name, slot)
        self.bytes += self.ckpt.nbytes([TEXT + n for n in names])
        return out


def _layer(read: _Reader, cfg: M3Config, i: int) -> LayerWeights:
    p = f"model.layers.{i}."
    a = p + "self_attn."
    index = None
    projections = [a + f"{n}_proj.weight" for n in ("q", "k", "v")]
    if cfg.layer_types[i] == SPARSE:
        index = {n: read(a + f"index_{n}.weight") for n in ("q_norm", "k_norm")}
        projections += [a + "index_q_proj.weight", a + "index_k_proj.weight"]
    qkv, qkv_split = read.rows(projections)
    if cfg.mlp_layer_types[i] == MOE_MLP:
        m = p + "block_sparse_moe."
        # a shared expert as wide as a routed one is read into one more slot of the stacks, so a
        # decode step mixes it with the routed ones in one grouped GEMV (slot E, weight 1)
        in_stack = cfg.shared_intermediate_size == cfg.moe_intermediate_size
        shared = {"w1": "gate", "w3": "up", "w2": "down"}

        def stack(w: str) -> list[str]:
            names = [f"{m}experts.{e}.{w}.weight" for e in range(cfg.num_experts)]
            return names + [f"{m}shared_experts.{shared[w]}_proj.weight"] * in_stack

        mlp = {
            "router": read(m + "gate.weight"),
            "bias": read(m + "e_score_correction_bias"),
            **{w: read.stacked(stack(w)) for w in ("w1", "w3", "w2")},
        }
        if not in_stack:
            mlp["shared_gate_up"] = read.rows([f"{m}shared_experts.{n}_proj.weight" for n in ("gate", "up")])[0]
            mlp["shared_down"] = read(m + "shared_experts.down_proj.weight")
    else:
        mlp = {"gate_up": read.rows([f"{p}mlp.{n}_proj.weight" for n in ("gate", "up")])[0]}
        mlp["down"] = read(p + "mlp.down_proj.weight")
    return LayerWeights(
        input_norm=read(p + "input_layernorm.weight"),
        post_norm=read(p + "post_attention_layernorm.weight"),
        qkv=qkv,
        qkv_split=qkv_split,
        o=read(a + "o_proj.weight"),
        q_norm=read(a + "q_norm.weight"),
        k_norm=read(a + "k_norm.weight"),
        index=index,
        mlp=mlp,
    )


def load_weights(
    ckpt: Checkpoint,
    cfg: M3Config,
    *,
    dtype: torch.dtype,
    device="cpu",
    on_progress: Callable[[LoadProgress], None] | None = None,
):
    """(embed, final norm, lm_head, [LayerWeights]), read layer by layer onto `device`."""
    read = _Reader(ckpt, dtype, device)
    total_bytes = ckpt.nbytes([n for n in ckpt.tensors if n.startswith(TEXT)])
    steps = cfg.num_layers + 2

    def report(step: int) -> None:
        if on_progress is not None:
            on_progress(LoadProgress(step, steps, read.bytes, total_bytes))

    embed = read("model.embed_tokens.weight")  # [vocab, hidden]
    report(1)
    out_layers = []
    for i in range(cfg.num_layers):
        out_layers.append(_layer(read, cfg, i))
        report(i + 2)
    head = embed if cfg.tie_word_embeddings else read("lm_head.weight")
    norm = read("model.norm.weight")
    report(steps)
    return embed, norm, head, out_layers
