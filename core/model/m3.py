"""The MiniMax-M3 text model: weights from a checked checkpoint, a forward pass to logits.

`forward` runs a chunk of new tokens of one `Sequence` against its paged cache (a whole prompt,
a chunk of one, the next turn, or a decode step: all the same call). Attention goes through the
backend chosen once in `attention.choose_attention` (Triton kernels on CUDA, the fp32 reference
elsewhere); dense layers are causal attention to every cached token (`attention.full`). Weights are
mapped from upstream names once, at load time (`weights.py`), so the forward never looks names up.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from . import layers, rope
from .attention import Paging, choose_attention
from .cache import PagedCache, Sequence
from .checkpoint import Checkpoint
from .config import MOE_MLP, M3Config
from .decode_graph import StaticDecoder
from .step import Step
from .weights import LayerWeights, LoadProgress, load_weights


class M3TextModel:
    """MiniMax-M3 text model over one sequence at a time."""

    def __init__(
        self,
        cfg: M3Config,
        ckpt: Checkpoint,
        *,
        dtype: torch.dtype = torch.float32,
        device="cpu",
        attention: str | None = None,
        decode_graph: bool = True,
        on_progress: Callable[[LoadProgress], None] | None = None,
    ):
        """`attention` forces a backend ("reference" or "triton"); `decode_graph` False decodes
        through the ordinary forward even with the Triton backend (no CUDA graph)."""
        self.cfg, self.device = cfg, torch.device(device)
        self.attention = choose_attention(self.device, attention, cfg=cfg)
        self.embed, self.norm, self.lm_head, self.layers = load_weights(
            ckpt, cfg, dtype=dtype, device=self.device, on_progress=on_progress
        )
        # decode through StaticDecoder (a CUDA graph on the GPU) where the backend allows it
        self.static_decode = self.attention.name == "triton" and decode_graph
        assert cfg.rope is not None  # M3Config.__post_init__ fills it
        self.inv_freq = rope.inv_freq(cfg.rope).to(self.device)  # fp32 [rotary_dim / 2], as transformers'
        self._decoders: dict[int, StaticDecoder] = {}

    def decode(self, token: int, cache: PagedCache, seq: Sequence) -> torch.Tensor:
        """Logits `[vocab]` after appending one token to `seq`: the sync-free step (replayed as a
        CUDA graph) with the Triton backend, the ordinary forward otherwise."""
        if not self.static_decode:
            return self.forward(torch.tensor([token], device=self.device), cache, seq, last_only=True)[-1]
        decoder = self._decoders.get(id(cache))
        if decoder is None or decoder.cache is not cache:
            decoder = self._decoders[id(cache)] = StaticDecoder(self, cache)
        return decoder.step(token, seq)

    @torch.no_grad()
    def media_mask(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Where `input_ids` hold image or video placeholders (their embeddings come from the tower)."""
        ids = [i for i in (self.cfg.image_token_id, self.cfg.video_token_id) if i is not None]
        return torch.isin(input_ids, torch.tensor(ids, device=input_ids.device, dtype=input_ids.dtype))

    def forward(
        self,
        input_ids: torch.Tensor,
        cache: PagedCache,
        seq: Sequence,
        *,
        last_only: bool = False,
        embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits `[n, vocab]` (fp32) for the new tokens `[n]`, which are appended to `seq`;
        `last_only`: just the last token's `[1, vocab]` (a long prefill's logits would not fit);
        `embeds` `[m, hidden]`: the vision embeddings of the m placeholders among the tokens."""
        n = input_ids.shape[0]
        cache.reserve(seq, n)
        device = input_ids.device
        positions = torch.arange(seq.length, seq.length + n, device=device)
        paging = Paging(
            cache.block_table(seq, device),
            torch.tensor([0, n], dtype=torch.int32, device=device),
            torch.tensor([seq.length + n], dtype=torch.int32, device=device),
        )
        pages, slots = cache.slots(seq, n, device)
        step = Step(
            positions,
            paging,
            pages,
            slots,
            self.attention,
            self.cfg.num_kv_heads,
            cache.block,
            start=seq.length,
        )
        h = self.embed[input_ids]  # [n, hidden]
        if embeds is not None:
            mask = self.media_mask(input_ids)
            if int(mask.sum()) != embeds.shape[0]:
                raise ValueError(f"{int(mask.sum())} image/video placeholders but {embeds.shape[0]} embeddings")
            h[mask] = embeds.to(h.dtype)
        logits = self.run(h, cache, step, last_only=last_only)
        seq.length += n
        seq.ids.extend(input_ids.tolist())
        return logits

    def run(self, h: torch.Tensor, cache: PagedCache, step: Step, *, last_only: bool) -> torch.Tensor:
        """The layers and the head over input embeddings `h [n, hidden]` placed as `step` says."""
        cfg = self.cfg
        assert cfg.rope is not None  # M3Config.__post_init__ fills it
        cos, sin = layers.rotary_cos_sin(step.positions, self.inv_freq, cfg.rope.attention_factor, self.embed.dtype)
        for i, w in enumerate(self.layers):
            x = layers.gemma_rms_norm(h, w.input_norm, cfg.rms_norm_eps)
            h = h + F.linear(self._attention(i, x, w, cos, sin, cache, step), w.o)
            x = layers.gemma_rms_norm(h, w.post_norm, cfg.rms_norm_eps)
            h = h + self._mlp(x, w, cfg.mlp_layer_types[i], step.gathered_experts)
        if last_only:
            h = h[-1:]
        return F.linear(layers.gemma_rms_norm(h, self.norm, cfg.rms_norm_eps), self.lm_head).float()

    def _attention(self, i, x, w: LayerWeights, cos, sin, cache: PagedCache, step: Step) -> torch.Tensor:
        cfg = self.cfg
        n = x.shape[0]
        eps, norm_rope = cfg.rms_norm_eps, layers.gemma_rms_norm_rope
        parts = F.linear(x, w.qkv).split(w.qkv_split, dim=-1)  # q, k, v (, index q, index k): views
        q = norm_rope(parts[0].view(n, cfg.num_heads, cfg.head_dim), w.q_norm, eps, cos, sin)
        k = norm_rope(parts[1].view(n, cfg.num_kv_heads, cfg.head_dim), w.k_norm, eps, cos, sin)
        v = parts[2].view(n, cfg.num_kv_heads, cfg.head_dim)
        ik = None
        if w.index is not None:
            ix, di = w.index, cfg.index_head_dim
            iq = norm_rope(parts[3].view(n, cfg.index_heads, di), ix["q_norm"], eps, cos, sin)
            ik = norm_rope(parts[4].view(n, 1, di), ix["k_norm"], eps, cos, sin)[:, 0]
        cache.write(i, step.pages, step.slots, k, v, ik)
        if ik is None:  # a full-attention layer
            out = step.attention.full(q, cache.k[i], cache.v[i], step)
            return out.reshape(n, -1)
        selection = step.attention.select(
            iq,
            cache.index_k[i],
            step.paging,
            step.positions,
            topk=cfg.index_topk_blocks,
            init_blocks=cfg.index_init_blocks,
            local_blocks=cfg.index_local_blocks,
        )
        out = step.attention.attend(q, cache.k[i], cache.v[i], step.paging, selection)  # [n, H, D]
        return out.reshape(n, -1)

    def _mlp(self, x, w: LayerWeights, kind: str, gathered: bool = False) -> torch.Tensor:
        cfg, m = self.cfg, w.mlp
        kw = dict(alpha=cfg.swiglu_alpha, limit=cfg.swiglu_limit)
        if kind != MOE_MLP:
            return layers.gated_mlp(x, m["gate_up"], m["down"], **kw)
        weights, chosen = layers.route(x, m["router"], m["bias"], cfg.experts_per_token)
        e, scale = cfg.num_experts, cfg.routed_scaling_factor
        w1, w3, w2 = m["w1"], m["w3"], m["w2"]
        if w1.shape[0] == e:  # the shared expert has its own width
            mix = layers.mix_gathered_experts if gathered else layers.mix_experts
            return mix(x, weights, chosen, w1, w3, w2, **kw) * scale + layers.gated_mlp(
                x, m["shared_gate_up"], m["shared_down"], **kw
            )
        if gathered:  # one grouped GEMV: the chosen experts, weighted and scaled, and the shared one (slot E)
            weights = torch.cat([weights * scale, torch.ones_like(weights[:, :1])], dim=1)
            chosen = torch.cat([chosen, torch.full_like(chosen[:, :1], e)], dim=1)
            return layers.mix_gathered_experts(x, weights, chosen, w1, w3, w2, **kw)
        routed = layers.mix_experts(x, weights, chosen, w1[:e], w3[:e], w2[:e], **kw)
        return routed * scale + layers.expert_mlp(x, w1[e], w3[e], w2[e], **kw)
