"""Loading the M3 text weights: upstream names mapped onto per-layer tensors, once, at load time.

Every destination tensor is allocated on the target device in the target dtype and filled
straight from the memory-mapped shard (`Checkpoint.read_into`), so loading never holds two
copies: experts are stacked `[E, I, H]` by reading each one into its slice of the stack. Layers
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
    q: torch.Tensor  # [H*D, hidden]
    k: torch.Tensor  # [Hkv*D, hidden]
    v: torch.Tensor
    o: torch.Tensor  # [hidden, H*D]
    q_norm: torch.Tensor  # [D]
    k_norm: torch.Tensor
    index: dict[str, torch.Tensor] | None  # sparse layers: q_proj, k_proj, q_norm, k_norm
    mlp: dict[str, torch.Tensor]  # dense: gate, up, down; MoE: router, bias, w1, w3, w2 [E, ...], shared_*


class _Reader:
    """Reads upstream tensors onto one device and dtype, counting bytes for progress."""

    def __init__(self, ckpt: Checkpoint, dtype: torch.dtype, device):
        self.ckpt, self.dtype, self.device, self.bytes = ckpt, dtype, device, 0

    def __call__(self, name: str) -> torch.Tensor:
        self.bytes += self.ckpt.nbytes([TEXT + name])
        return self.ckpt.tensor(TEXT + name, dtype=self.dtype, device=self.device)

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
    if cfg.layer_types[i] == SPARSE:
        index = {n: read(a + f"index_{n}.weight") for n in ("q_proj", "k_proj", "q_norm", "k_norm")}
    if cfg.mlp_layer_types[i] == MOE_MLP:
        m = p + "block_sparse_moe."
        mlp = {
            "router": read(m + "gate.weight"),
            "bias": read(m + "e_score_correction_bias"),
            **{
                w: read.stacked([f"{m}experts.{e}.{w}.weight" for e in range(cfg.num_experts)])
                for w in ("w1", "w3", "w2")
            },
            **{f"shared_{n}": read(f"{m}shared_experts.{n}_proj.weight") for n in ("gate", "up", "down")},
        }
    else:
        mlp = {n: read(f"{p}mlp.{n}_proj.weight") for n in ("gate", "up", "down")}
    return LayerWeights(
        input_norm=read(p + "input_layernorm.weight"),
        post_norm=read(p + "post_attention_layernorm.weight"),
        q=read(a + "q_proj.weight"),
        k=read(a + "k_proj.weight"),
        v=read(a + "v_proj.weight"),
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
