"""The M3 vision tower and projector: patch rows in, one text-width embedding per 28x28 pixels out.

CLIP-style ViT (MSA.md §7): a linear patch embedding over 3 x 2 x 14 x 14 rows (the checkpoint's
Conv3d kernel, flattened once at load time), pre-LayerNorm, pre-norm encoder layers with a 3D
(t, h, w) rotary embedding on the first 3 x 2 x ((head_dim // 3) // 2) dims of each head,
attention restricted to each segment (an image, or up to 4 temporal steps of a video), GELU MLP.
Then a 2-layer GELU MLP to the text width and the 2 x 2 merge MLP over neighbouring patches.
Weights come from the upstream names (`vision_tower.vision_model.*`, `multi_modal_projector.*`,
`patch_merge_mlp.*`), checked for presence and shape before anything is allocated.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core.model.checkpoint import CheckpointError

from .preprocess import MERGE, PATCH, TEMPORAL, VisionInput

VT, PROJ, MERGE_MLP = "vision_tower.vision_model.", "multi_modal_projector.", "patch_merge_mlp."


@dataclass(frozen=True)
class VisionConfig:
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    layer_norm_eps: float
    rope_theta: float
    projector_hidden_size: int
    text_hidden_size: int
    image_token_id: int
    video_token_id: int

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def rotary_dims(self) -> int:  # per axis; t, h and w each take this many (twice, rotate-half)
        return 2 * ((self.head_dim // 3) // 2)


def vision_config_from_dict(data: dict, text_hidden: int) -> VisionConfig:
    v = data.get("vision_config")
    if not isinstance(v, dict):
        raise CheckpointError("config.json has no 'vision_config': this model folder is text-only")
    for name, expected in (("patch_size", PATCH), ("temporal_patch_size", TEMPORAL), ("spatial_merge_size", MERGE)):
        if int(v.get(name, expected)) != expected:
            raise CheckpointError(f"config.json vision_config.{name} is {v[name]}; Spyglass supports {expected}")
    rope = v.get("rope_parameters") or {}
    return VisionConfig(
        hidden_size=int(v.get("hidden_size", 1280)),
        intermediate_size=int(v.get("intermediate_size", 5120)),
        num_layers=int(v.get("num_hidden_layers", 32)),
        num_heads=int(v.get("num_attention_heads", 16)),
        layer_norm_eps=float(v.get("layer_norm_eps", 1e-5)),
        rope_theta=float(rope.get("rope_theta", 1e4)),
        projector_hidden_size=int(data.get("projector_hidden_size", 6144)),
        text_hidden_size=text_hidden,
        image_token_id=int(data.get("image_token_index", data.get("image_token_id", 200025))),
        video_token_id=int(data.get("video_token_index", data.get("video_token_id", 200026))),
    )


def expected_vision_tensors(c: VisionConfig) -> dict[str, tuple[int, ...]]:
    d, i, p = c.hidden_size, c.intermediate_size, c.projector_hidden_size
    out = {
        VT + "embeddings.patch_embedding.weight": (d, 3, TEMPORAL, PATCH, PATCH),
        VT + "pre_layrnorm.weight": (d,),
        VT + "pre_layrnorm.bias": (d,),
        PROJ + "linear_1.weight": (p, d),
        PROJ + "linear_1.bias": (p,),
        PROJ + "linear_2.weight": (c.text_hidden_size, p),
        PROJ + "linear_2.bias": (c.text_hidden_size,),
        MERGE_MLP + "linear_1.weight": (p, c.text_hidden_size * MERGE * MERGE),
        MERGE_MLP + "linear_1.bias": (p,),
        MERGE_MLP + "linear_2.weight": (c.text_hidden_size, p),
        MERGE_MLP + "linear_2.bias": (c.text_hidden_size,),
    }
    for n in range(c.num_layers):
        x = f"{VT}encoder.layers.{n}."
        out |= {x + f"{ln}.{w}": (d,) for ln in ("layer_norm1", "layer_norm2") for w in ("weight", "bias")}
        out |= {x + f"self_attn.{proj}.weight": (d, d) for proj in ("q_proj", "k_proj", "v_proj", "out_proj")}
        out |= {x + f"self_attn.{proj}.bias": (d,) for proj in ("q_proj", "k_proj", "v_proj", "out_proj")}
        out |= {
            x + "mlp.fc1.weight": (i, d),
            x + "mlp.fc1.bias": (i,),
            x + "mlp.fc2.weight": (d, i),
            x + "mlp.fc2.bias": (d,),
        }
    return out


def check_vision_tensors(ckpt, c: VisionConfig) -> None:
    for name, shape in expected_vision_tensors(c).items():
        info = ckpt.tensors.get(name)
        if info is None:
            raise CheckpointError(
                f"tensor {name} (shape {shape}) is missing from {ckpt.folder}: the vision tower cannot load"
            )
        if tuple(info.shape) != shape:
            raise CheckpointError(
                f"tensor {name} in {info.file.name} has shape {tuple(info.shape)}; config.json implies {shape}"
            )


def position_ids(grids) -> torch.Tensor:
    """(t, h, w) of every patch `[N, 3]`, spatial indices block-major over 2 x 2 merge blocks."""
    out = []
    for t, h, w in grids:
        hh, ww = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        blocks = (h // MERGE, MERGE, w // MERGE, MERGE)
        hh, ww = hh.reshape(blocks).transpose(1, 2).flatten(), ww.reshape(blocks).transpose(1, 2).flatten()
        out.append(torch.stack([torch.arange(t).repeat_interleave(h * w), hh.repeat(t), ww.repeat(t)], dim=-1))
    return torch.cat(out)


class VisionTower:
    def __init__(self, cfg: VisionConfig, ckpt, *, dtype: torch.dtype, device):
        check_vision_tensors(ckpt, cfg)
        self.cfg, self.dtype, self.device = cfg, dtype, torch.device(device)

        def t(name):
            return ckpt.tensor(name, dtype=dtype, device=self.device)

        self.patch = t(VT + "embeddings.patch_embedding.weight").reshape(cfg.hidden_size, -1)  # [D, 1176]
        self.pre = (t(VT + "pre_layrnorm.weight"), t(VT + "pre_layrnorm.bias"))
        self.layers = []
        for n in range(cfg.num_layers):
            x = f"{VT}encoder.layers.{n}."
            names = [k[len(x) :] for k in expected_vision_tensors(cfg) if k.startswith(x)]
            self.layers.append({k: t(x + k) for k in names})
        self.proj = {k: t(PROJ + k) for k in ("linear_1.weight", "linear_1.bias", "linear_2.weight", "linear_2.bias")}
        self.merge = {k: t(MERGE_MLP + k) for k in self.proj}
        sd = cfg.rotary_dims
        self.inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, sd, 2, dtype=torch.float32) / sd))

    def _rope(self, grids):
        freqs = position_ids(grids)[..., None].float() * self.inv_freq  # [N, 3, sd/2]
        freqs = freqs.flatten(1)
        emb = torch.cat([freqs, freqs], dim=-1)  # [N, 3*sd]
        return emb.cos().to(self.device, self.dtype), emb.sin().to(self.device, self.dtype)

    @torch.no_grad()
    def forward(self, media: list[VisionInput]) -> list[torch.Tensor]:
        """One `[tokens, text_hidden]` tensor per image or video, in order."""
        cfg = self.cfg
        grids = [g for m in media for g in m.grids]
        x = torch.cat([m.patches for m in media]).to(self.device, self.dtype) @ self.patch.T  # [N, D]
        x = F.layer_norm(x, (cfg.hidden_size,), *self.pre, cfg.layer_norm_eps)
        cos, sin = self._rope(grids)
        lengths = [t * h * w for t, h, w in grids]
        for w in self.layers:
            h = F.layer_norm(x, (cfg.hidden_size,), w["layer_norm1.weight"], w["layer_norm1.bias"], cfg.layer_norm_eps)
            x = x + self._attention(h, w, cos, sin, lengths)
            h = F.layer_norm(x, (cfg.hidden_size,), w["layer_norm2.weight"], w["layer_norm2.bias"], cfg.layer_norm_eps)
            x = x + F.linear(
                F.gelu(F.linear(h, w["mlp.fc1.weight"], w["mlp.fc1.bias"])), w["mlp.fc2.weight"], w["mlp.fc2.bias"]
            )
        p, m = self.proj, self.merge
        y = F.linear(
            F.gelu(F.linear(x, p["linear_1.weight"], p["linear_1.bias"])), p["linear_2.weight"], p["linear_2.bias"]
        )  # [N, text_hidden]
        y = y.reshape(y.shape[0] // (MERGE * MERGE), -1)  # [N/4, 4*text_hidden]: a 2x2 block per row
        y = F.linear(
            F.gelu(F.linear(y, m["linear_1.weight"], m["linear_1.bias"])), m["linear_2.weight"], m["linear_2.bias"]
        )
        return list(torch.split(y, [mm.tokens for mm in media]))

    def _attention(self, x, w, cos, sin, lengths) -> torch.Tensor:
        n, heads, hd = x.shape[0], self.cfg.num_heads, self.cfg.head_dim
        q, k, v = (
            F.linear(x, w[f"self_attn.{p}.weight"], w[f"self_attn.{p}.bias"]).view(n, heads, hd)
            for p in ("q_proj", "k_proj", "v_proj")
        )
        q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
        outs = []
        for qs, ks, vs in zip(*(t.split(lengths) for t in (q, k, v)), strict=True):  # attention within each segment
            o = F.scaled_dot_product_attention(qs.transpose(0, 1), ks.transpose(0, 1), vs.transpose(0, 1))
            outs.append(o.transpose(0, 1))  # [len, heads, hd]
        out = torch.cat(outs).reshape(n, -1)
        return F.linear(out, w["self_attn.out_proj.weight"], w["self_attn.out_proj.bias"])


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """3D rotary on the first `cos.shape[-1]` dims of `x [N, heads, hd]` (rotate-half)."""
    r = cos.shape[-1]
    rot, rest = x[..., :r], x[..., r:]
    half = torch.cat((-rot[..., r // 2 :], rot[..., : r // 2]), dim=-1)
    return torch.cat((rot * cos[:, None] + half * sin[:, None], rest), dim=-1)
