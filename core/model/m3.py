"""The MiniMax-M3 text model: weights from a checked checkpoint, a forward pass to logits.

`forward` runs a chunk of new tokens of one `Sequence` against its paged cache (a whole prompt,
a chunk of one, the next turn, or a decode step: all the same call). Attention uses the fp32
reference path of `kernels.msa` (the CPU path; the Triton kernels take the same paged inputs on
CUDA). Dense layers are the MSA computation with every visible block selected. Upstream tensor names are mapped to per-layer weights once, at load
time; experts are stacked `[E, I, H]` so the forward never looks names up.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from kernels.msa import reference

from . import layers
from .cache import PagedCache, Sequence
from .checkpoint import TEXT, Checkpoint
from .config import MOE_MLP, SPARSE, M3Config


@dataclass
class LayerWeights:
    input_norm: torch.Tensor
    post_norm: torch.Tensor
    q: torch.Tensor  # [H*D, hidden]
    k: torch.Tensor
    v: torch.Tensor
    o: torch.Tensor
    q_norm: torch.Tensor
    k_norm: torch.Tensor
    index: dict[str, torch.Tensor] | None  # q, k, q_norm, k_norm for sparse layers
    mlp: dict[str, torch.Tensor]  # dense: gate, up, down; MoE: router, bias, w1, w3, w2, shared_*


def load_weights(ckpt: Checkpoint, cfg: M3Config, *, dtype: torch.dtype, device="cpu"):
    """(embed, final norm, lm_head, [LayerWeights]) from the checkpoint's upstream names."""
    def t(name):
        return ckpt.tensor(TEXT + name, dtype=dtype, device=device)

    out_layers = []
    for i in range(cfg.num_layers):
        p = f"model.layers.{i}."
        a = p + "self_attn."
        index = None
        if cfg.layer_types[i] == SPARSE:
            index = {n: t(a + f"index_{n}.weight") for n in ("q_proj", "k_proj", "q_norm", "k_norm")}
        if cfg.mlp_layer_types[i] == MOE_MLP:
            m = p + "block_sparse_moe."
            experts = range(cfg.num_experts)
            mlp = {"router": t(m + "gate.weight"), "bias": t(m + "e_score_correction_bias"),
                   **{w: torch.stack([t(f"{m}experts.{e}.{w}.weight") for e in experts]) for w in ("w1", "w3", "w2")},
                   **{f"shared_{n}": t(f"{m}shared_experts.{n}_proj.weight") for n in ("gate", "up", "down")}}
        else:
            mlp = {n: t(f"{p}mlp.{n}_proj.weight") for n in ("gate", "up", "down")}
        out_layers.append(LayerWeights(
            input_norm=t(p + "input_layernorm.weight"), post_norm=t(p + "post_attention_layernorm.weight"),
            q=t(a + "q_proj.weight"), k=t(a + "k_proj.weight"), v=t(a + "v_proj.weight"), o=t(a + "o_proj.weight"),
            q_norm=t(a + "q_norm.weight"), k_norm=t(a + "k_norm.weight"), index=index, mlp=mlp))
    embed = t("model.embed_tokens.weight")
    head = embed if cfg.tie_word_embeddings else t("lm_head.weight")
    return embed, t("model.norm.weight"), head, out_layers


class M3TextModel:
    """MiniMax-M3 text model over one sequence (reference attention path)."""

    def __init__(self, cfg: M3Config, ckpt: Checkpoint, *, dtype: torch.dtype = torch.float32, device="cpu"):
        self.cfg = cfg
        self.embed, self.norm, self.lm_head, self.layers = load_weights(ckpt, cfg, dtype=dtype, device=device)

    @torch.no_grad()
    def forward(self, input_ids: torch.Tensor, cache: PagedCache, seq: Sequence) -> torch.Tensor:
        """Logits `[n, vocab]` (fp32) for the new tokens `[n]`, which are appended to `seq`."""
        cfg = self.cfg
        n = input_ids.shape[0]
        cache.reserve(seq, n)
        positions = torch.arange(seq.length, seq.length + n, device=input_ids.device)
        cos, sin = layers.rope_cos_sin(positions, cfg.rotary_dim, cfg.rope_theta, self.embed.dtype)
        paging = (cache.block_table(seq, input_ids.device),
                  torch.tensor([0, n], dtype=torch.int32, device=input_ids.device),
                  torch.tensor([seq.length + n], dtype=torch.int32, device=input_ids.device))
        h = self.embed[input_ids]  # [n, hidden]
        for i, w in enumerate(self.layers):
            x = layers.gemma_rms_norm(h, w.input_norm, cfg.rms_norm_eps)
            h = h + F.linear(self._attention(i, x, w, cos, sin, cache, seq, paging, positions), w.o)
            x = layers.gemma_rms_norm(h, w.post_norm, cfg.rms_norm_eps)
            h = h + self._mlp(x, w, cfg.mlp_layer_types[i])
        seq.length += n
        return F.linear(layers.gemma_rms_norm(h, self.norm, cfg.rms_norm_eps), self.lm_head).float()

    def _attention(self, i, x, w: LayerWeights, cos, sin, cache, seq, paging, positions) -> torch.Tensor:
        cfg = self.cfg
        n = x.shape[0]
        q = layers.gemma_rms_norm(F.linear(x, w.q).view(n, cfg.num_heads, cfg.head_dim), w.q_norm, cfg.rms_norm_eps)
        k = layers.gemma_rms_norm(F.linear(x, w.k).view(n, cfg.num_kv_heads, cfg.head_dim), w.k_norm,
                                  cfg.rms_norm_eps)
        v = F.linear(x, w.v).view(n, cfg.num_kv_heads, cfg.head_dim)
        q, k = layers.apply_partial_rope(q, cos, sin), layers.apply_partial_rope(k, cos, sin)
        ik = None
        if w.index is not None:
            ix, di = w.index, cfg.index_head_dim
            iq = layers.gemma_rms_norm(F.linear(x, ix["q_proj"]).view(n, cfg.index_heads, di), ix["q_norm"],
                                       cfg.rms_norm_eps)
            ik = layers.gemma_rms_norm(F.linear(x, ix["k_proj"]).view(n, 1, di), ix["k_norm"], cfg.rms_norm_eps)
            iq, ik = layers.apply_partial_rope(iq, cos, sin), layers.apply_partial_rope(ik, cos, sin)[:, 0]
        cache.write(i, seq, k, v, ik)
        if ik is not None:
            scores = reference.block_scores(iq, cache.index_k[i], *paging)
            selection = reference.topk_blocks(scores, positions.to(torch.int32), topk=cfg.index_topk_blocks,
                                              block_size=cache.block, init_blocks=cfg.index_init_blocks,
                                              local_blocks=cfg.index_local_blocks)
        else:  # dense causal: every visible block
            n_blocks = len(seq.pages)
            selection = reference.topk_blocks(torch.zeros(cfg.num_kv_heads, n, n_blocks, device=x.device),
                                              positions.to(torch.int32), topk=n_blocks, block_size=cache.block)
        out = reference.sparse_attention(q, cache.k[i], cache.v[i], *paging, selection)
        return out.to(x.dtype).reshape(n, -1)

    def _mlp(self, x, w: LayerWeights, kind: str) -> torch.Tensor:
        cfg, m = self.cfg, w.mlp
        kw = dict(alpha=cfg.swiglu_alpha, limit=cfg.swiglu_limit)
        if kind != MOE_MLP:
            return layers.gated_mlp(x, m["gate"], m["up"], m["down"], **kw)
        weights, chosen = layers.route(x, m["router"], m["bias"], cfg.experts_per_token)
        routed = layers.mix_experts(x, weights, chosen, m["w1"], m["w3"], m["w2"], **kw)
        return routed * cfg.routed_scaling_factor + layers.gated_mlp(
            x, m["shared_gate"], m["shared_up"], m["shared_down"], **kw)
