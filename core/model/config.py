"""MiniMax-M3 text configuration, read from a checkpoint's `config.json` (MSA.md §7).

One frozen dataclass serves tiny test configs and the full model. `load_config` accepts the
published layout (`model_type: minimax_m3_vl` with a nested `text_config`) and a bare text
config, and both spellings of the MSA fields: the flat `index_*` fields and the older nested
`sparse_attention_config` block (with `sparse_attention_freq` and `moe_layer_freq` lists for the
per-layer types). Every inconsistency is a `ConfigError` naming the file and the field.

Every field is read as `transformers` 5.24 (`minimax_m3_vl`) reads it, so a checkpoint it loads
computes the same here: RoPE from `rope_scaling`/`rope_parameters` (`rope.py`), rotated dims from
`partial_rotary_factor` (never `rotary_dim`, which transformers ignores too), ties from either
level. A field that would make the model compute something we do not (a bias, a sliding window,
another activation or router, a RoPE type we lack) is refused, never ignored (`UNSUPPORTED`).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from .rope import SUPPORTED as ROPE_TYPES
from .rope import Rope

log = logging.getLogger(__name__)

FULL, SPARSE = "full_attention", "minimax_m3_sparse"
DENSE_MLP, MOE_MLP = "dense", "sparse"
_LEGACY_INDEX = {
    "index_n_heads": "sparse_num_index_heads",
    "index_head_dim": "sparse_index_dim",
    "index_block_size": "sparse_block_size",
    "index_topk_blocks": "sparse_topk_blocks",
    "index_init_blocks": "sparse_init_block",
    "index_local_blocks": "sparse_local_block",
}
DEFAULT_THETA = 5_000_000.0  # MiniMaxM3VLTextConfig.default_theta
# Fields transformers' MiniMax-M3 does not read, but whose value (other than these) declares a
# model that computes something else; refused rather than silently ignored. Irrelevant at
# inference, hence ignored: attention_dropout, router_jitter_noise, initializer_range, use_cache.
UNSUPPORTED = {
    "attention_bias": ((False, None), "biases on the q/k/v/o projections"),
    "mlp_bias": ((False, None), "biases in the feed-forward layers"),
    "sliding_window": ((None,), "sliding-window attention"),
    "use_sliding_window": ((False, None), "sliding-window attention"),
    "use_qk_norm": ((True, None), "attention without q/k norms (M3 always normalises q and k)"),
    "attn_logit_softcapping": ((None,), "soft-capped attention logits"),
    "final_logit_softcapping": ((None,), "soft-capped output logits"),
    "scoring_func": (("sigmoid", None), "a router other than sigmoid"),
    "norm_topk_prob": ((True, None), "unnormalised routing weights"),
    "n_group": ((1, None), "grouped expert routing"),
    "topk_group": ((1, None), "grouped expert routing"),
    "hidden_act": (("silu", "swigluoai", None), "an activation other than M3's SwiGLU-OAI"),
    "index_init_blocks": ((0, None), "forced initial blocks, which transformers' M3 never selects"),
}


class ConfigError(ValueError):
    """config.json cannot describe a MiniMax-M3 model; the message names the field."""


@dataclass(frozen=True)
class M3Config:
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rotary_dim: int
    rope_theta: float
    rms_norm_eps: float
    layer_types: tuple[str, ...]
    mlp_layer_types: tuple[str, ...]
    dense_intermediate_size: int
    moe_intermediate_size: int  # one routed expert's width
    shared_intermediate_size: int
    num_experts: int
    experts_per_token: int
    routed_scaling_factor: float
    swiglu_alpha: float
    swiglu_limit: float
    index_heads: int
    index_head_dim: int
    index_block_size: int
    index_topk_blocks: int
    index_init_blocks: int
    index_local_blocks: int
    max_position_embeddings: int
    tie_word_embeddings: bool = False
    image_token_id: int | None = None
    video_token_id: int | None = None
    rope: Rope | None = None  # RoPE scaling; None: plain RoPE of rope_theta over rotary_dim dims

    def __post_init__(self) -> None:
        rope = self.rope
        if rope is None:
            rope = Rope(self.rope_theta, self.rotary_dim)
            object.__setattr__(self, "rope", rope)
        if (rope.theta, rope.dims) != (self.rope_theta, self.rotary_dim):
            raise ConfigError(f"rope {rope} disagrees with rope_theta {self.rope_theta} / rotary_dim {self.rotary_dim}")
        for name, types, allowed in (
            ("layer_types", self.layer_types, (FULL, SPARSE)),
            ("mlp_layer_types", self.mlp_layer_types, (DENSE_MLP, MOE_MLP)),
        ):
            if len(types) != self.num_layers:
                raise ConfigError(f"{name} has {len(types)} entries but num_hidden_layers is {self.num_layers}")
            bad = sorted(set(types) - set(allowed))
            if bad:
                raise ConfigError(f"{name} holds {bad}; expected only {list(allowed)}")
        if self.num_heads % self.num_kv_heads:
            raise ConfigError(
                f"num_attention_heads {self.num_heads} is not a multiple of num_key_value_heads {self.num_kv_heads}"
            )
        if not 0 < self.rotary_dim <= self.head_dim or self.rotary_dim % 2:
            raise ConfigError(f"rotary_dim {self.rotary_dim} must be even and in 1..head_dim ({self.head_dim})")
        if self.sparse_layers and self.index_head_dim < self.rotary_dim:
            raise ConfigError(
                f"index_head_dim {self.index_head_dim} is smaller than the {self.rotary_dim} rotary dims "
                "(head_dim x partial_rotary_factor): the index branch rotates the same dims as the "
                "attention (MSA.md §2); transformers would rotate a truncated table, not a rotation. "
                "Raise index_head_dim or lower partial_rotary_factor"
            )
        if self.sparse_layers and self.index_heads != self.num_kv_heads:
            raise ConfigError(
                f"index_n_heads {self.index_heads} must equal num_key_value_heads "
                f"{self.num_kv_heads}: each index head selects for one KV head (MSA.md §3)"
            )
        if self.index_init_blocks + self.index_local_blocks > self.index_topk_blocks:
            raise ConfigError("index_init_blocks + index_local_blocks exceed index_topk_blocks")
        if self.experts_per_token > self.num_experts:
            raise ConfigError(f"num_experts_per_tok {self.experts_per_token} exceeds the {self.num_experts} experts")

    @property
    def sparse_layers(self) -> tuple[int, ...]:
        return tuple(i for i, t in enumerate(self.layer_types) if t == SPARSE)

    @property
    def moe_layers(self) -> tuple[int, ...]:
        return tuple(i for i, t in enumerate(self.mlp_layer_types) if t == MOE_MLP)

    def cache_bytes_per_token(self, dtype_bytes: int = 2, index_dtype_bytes: int | None = None) -> int:
        """K and V of every layer plus one index key per sparse layer (MSA.md §6); the index keys
        take `index_dtype_bytes` each (1 in an fp8 index-K cache), `dtype_bytes` by default."""
        kv = self.num_layers * 2 * self.num_kv_heads * self.head_dim * dtype_bytes
        return kv + len(self.sparse_layers) * self.index_head_dim * (index_dtype_bytes or dtype_bytes)


def _field(text: dict, name: str, source: Path, default=None):
    if name in text:
        return text[name]
    if default is None:
        raise ConfigError(f"{source}: the text config has no '{name}'")
    return default


def _per_layer(text: dict, name: str, legacy: list | None, values: tuple[str, str], n: int) -> tuple[str, ...]:
    if text.get(name) is not None:
        return tuple(text[name])
    if legacy is not None:
        return tuple(values[1] if flag else values[0] for flag in legacy)
    return (values[1],) * n


def config_from_dict(data: dict, source: Path = Path("config.json")) -> M3Config:
    """Build the config from a parsed config.json (published VL layout or bare text config)."""
    text = data.get("text_config", data)
    if not isinstance(text, dict):
        raise ConfigError(f"{source}: 'text_config' must be an object")
    legacy = text.get("sparse_attention_config") or {}
    n_layers = int(_field(text, "num_hidden_layers", source))
    index = {flat: legacy.get(old, text.get(flat)) for flat, old in _LEGACY_INDEX.items()}
    head_dim = int(_field(text, "head_dim", source))
    max_positions = int(text.get("max_position_embeddings", 524_288))  # transformers' default
    rope = _read_rope(text, head_dim=head_dim, max_positions=max_positions, source=source)
    if "rotary_dim" in text and text["rotary_dim"] != rope.dims:
        log.warning(
            "%s: rotary_dim %s is ignored, as transformers ignores it: %d dims rotate "
            "(head_dim x partial_rotary_factor, which defaults to 1)",
            source,
            text["rotary_dim"],
            rope.dims,
        )
    _refuse_unsupported(text, legacy, source)

    def get(name, default=None):
        return _field(text, name, source, default)

    def idx(name, default):
        return int(index[name]) if index[name] is not None else default

    return M3Config(
        vocab_size=int(get("vocab_size")),
        hidden_size=int(get("hidden_size")),
        num_layers=n_layers,
        num_heads=int(get("num_attention_heads")),
        num_kv_heads=int(get("num_key_value_heads")),
        head_dim=head_dim,
        rotary_dim=rope.dims,
        rope_theta=rope.theta,
        rms_norm_eps=float(get("rms_norm_eps", 1e-6)),
        layer_types=_per_layer(text, "layer_types", legacy.get("sparse_attention_freq"), (FULL, SPARSE), 0)
        or (FULL,) * n_layers,
        mlp_layer_types=_per_layer(text, "mlp_layer_types", text.get("moe_layer_freq"), (DENSE_MLP, MOE_MLP), n_layers),
        dense_intermediate_size=int(get("dense_intermediate_size", 12288)),
        moe_intermediate_size=int(get("intermediate_size")),
        shared_intermediate_size=int(get("shared_intermediate_size", 3072)),
        num_experts=int(text["num_local_experts"] if "num_local_experts" in text else text.get("num_experts", 128)),
        experts_per_token=int(get("num_experts_per_tok", 4)),
        routed_scaling_factor=float(get("routed_scaling_factor", 2.0)),
        swiglu_alpha=float(get("swiglu_alpha", 1.702)),
        swiglu_limit=float(get("swiglu_limit", 7.0)),
        index_heads=idx("index_n_heads", 4),
        index_head_dim=idx("index_head_dim", 128),
        index_block_size=idx("index_block_size", 128),
        index_topk_blocks=idx("index_topk_blocks", 16),
        index_init_blocks=idx("index_init_blocks", 0),
        index_local_blocks=idx("index_local_blocks", 1),
        max_position_embeddings=max_positions,
        # transformers ties when either the VL config or its text config says so
        tie_word_embeddings=bool(data.get("tie_word_embeddings")) or bool(text.get("tie_word_embeddings")),
        image_token_id=data.get("image_token_index", data.get("image_token_id")),
        video_token_id=data.get("video_token_index", data.get("video_token_id")),
        rope=rope,
    )


def _refuse_unsupported(text: dict, legacy: dict, source: Path) -> None:
    """ConfigError for a field whose value declares a computation Spyglass does not implement."""
    values = dict(text)
    if "sparse_init_block" in legacy:
        values["index_init_blocks"] = legacy["sparse_init_block"]
    for name, (accepted, what) in UNSUPPORTED.items():
        if name in values and values[name] not in accepted:
            ok = " or ".join(repr(v) for v in accepted if v is not None)
            raise ConfigError(
                f"{source}: {name} is {values[name]!r}, which means {what}; Spyglass (like "
                f"transformers' minimax_m3_vl) does not implement it. Only {ok} can be loaded"
            )


def _read_rope(text: dict, *, head_dim: int, max_positions: int, source: Path) -> Rope:
    """The `Rope` transformers builds from a text config (`rope.py` says how)."""
    field = "rope_scaling" if text.get("rope_scaling") else "rope_parameters"
    params = text.get(field) or {}
    if not isinstance(params, dict) or any(isinstance(v, dict) for v in params.values()):
        raise ConfigError(f"{source}: {field} must be one flat object; per-layer RoPE parameters are not supported")
    kind = params.get("rope_type", params.get("type", "default"))
    if kind not in ROPE_TYPES:
        raise ConfigError(
            f"{source}: {field}.rope_type is {kind!r}; Spyglass implements only "
            f"{', '.join(ROPE_TYPES)} RoPE (as transformers computes them)"
        )
    theta = float(params.get("rope_theta", text.get("rope_theta", DEFAULT_THETA)))
    fraction = float(params.get("partial_rotary_factor", text.get("partial_rotary_factor", 1.0)))
    dims = int(head_dim * fraction)
    if dims < 2 or dims % 2 or dims > head_dim:
        raise ConfigError(
            f"{source}: partial_rotary_factor {fraction} x head_dim {head_dim} = {dims} rotary dims; "
            f"it must give an even number in 2..{head_dim}"
        )
    if kind == "default":
        return Rope(theta, dims)
    factor = params.get("factor")
    if kind == "linear":
        if not isinstance(factor, (int, float)):
            raise ConfigError(f"{source}: {field}.factor must be a number for linear RoPE, got {factor!r}")
        return Rope(theta, dims, "linear", float(factor))
    return _yarn(params, field, theta, dims, text, max_positions, source)


def _yarn(params: dict, field: str, theta: float, dims: int, text: dict, max_positions: int, source: Path) -> Rope:
    original = int(
        text.get("original_max_position_embeddings") or params.get("original_max_position_embeddings") or max_positions
    )
    factor = params.get("factor")
    factor = float(factor) if factor is not None else max_positions / original
    if factor <= 0:
        raise ConfigError(f"{source}: {field}.factor is {factor}; YaRN needs a positive factor")
    attention = params.get("attention_factor")
    if attention is None:
        mscale, mscale_all = params.get("mscale"), params.get("mscale_all_dim")
        attention = (
            _yarn_mscale(factor, mscale) / _yarn_mscale(factor, mscale_all)
            if mscale and mscale_all
            else _yarn_mscale(factor)
        )
    return Rope(
        theta,
        dims,
        "yarn",
        factor,
        original,
        float(params.get("beta_fast") or 32),
        float(params.get("beta_slow") or 1),
        bool(params.get("truncate", True)),
        float(attention),
    )


def _yarn_mscale(scale: float, mscale: float = 1.0) -> float:
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def read_config_json(folder: str | Path) -> dict:
    """The parsed `folder/config.json` (text and vision parts alike)."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: a model folder needs its config.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path} is not readable JSON: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    return data


def load_config(folder: str | Path) -> M3Config:
    """Read `folder/config.json`."""
    return config_from_dict(read_config_json(folder), Path(folder) / "config.json")
