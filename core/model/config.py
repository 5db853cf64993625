"""MiniMax-M3 text configuration, read from a checkpoint's `config.json` (MSA.md §7).

One frozen dataclass serves tiny test configs and the full model. `load_config` accepts the
published layout (`model_type: minimax_m3_vl` with a nested `text_config`) and a bare text
config, and both spellings of the MSA fields: the flat `index_*` fields and the older nested
`sparse_attention_config` block (with `sparse_attention_freq` and `moe_layer_freq` lists for the
per-layer types). Every inconsistency is a `ConfigError` naming the file and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

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

    def __post_init__(self) -> None:
        for name, types, allowed in (("layer_types", self.layer_types, (FULL, SPARSE)),
                                     ("mlp_layer_types", self.mlp_layer_types, (DENSE_MLP, MOE_MLP))):
            if len(types) != self.num_layers:
                raise ConfigError(f"{name} has {len(types)} entries but num_hidden_layers is {self.num_layers}")
            bad = sorted(set(types) - set(allowed))
            if bad:
                raise ConfigError(f"{name} holds {bad}; expected only {list(allowed)}")
        if self.num_heads % self.num_kv_heads:
            raise ConfigError(f"num_attention_heads {self.num_heads} is not a multiple of "
                              f"num_key_value_heads {self.num_kv_heads}")
        if not 0 < self.rotary_dim <= self.head_dim or self.rotary_dim % 2:
            raise ConfigError(f"rotary_dim {self.rotary_dim} must be even and in 1..head_dim ({self.head_dim})")
        if self.sparse_layers and self.index_heads != self.num_kv_heads:
            raise ConfigError(f"index_n_heads {self.index_heads} must equal num_key_value_heads "
                              f"{self.num_kv_heads}: each index head selects for one KV head (MSA.md §3)")
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

    def cache_bytes_per_token(self, dtype_bytes: int = 2) -> int:
        """K and V of every layer plus one index key per sparse layer (MSA.md §6)."""
        kv = self.num_layers * 2 * self.num_kv_heads * self.head_dim
        return (kv + len(self.sparse_layers) * self.index_head_dim) * dtype_bytes


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
    rope = text.get("rope_parameters") or {}
    theta = rope.get("rope_theta", text.get("rope_theta", 5_000_000.0))
    head_dim = int(_field(text, "head_dim", source))
    rotary_dim = int(text.get("rotary_dim", 64))
    if "partial_rotary_factor" in rope:  # transformers' spelling; it must agree with rotary_dim
        from_factor = int(head_dim * float(rope["partial_rotary_factor"]))
        if "rotary_dim" in text and from_factor != rotary_dim:
            raise ConfigError(f"{source}: rotary_dim {rotary_dim} disagrees with partial_rotary_factor "
                              f"{rope['partial_rotary_factor']} x head_dim {head_dim} = {from_factor}")
        rotary_dim = from_factor

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
        rotary_dim=rotary_dim,
        rope_theta=float(theta),
        rms_norm_eps=float(get("rms_norm_eps", 1e-6)),
        layer_types=_per_layer(text, "layer_types", legacy.get("sparse_attention_freq"), (FULL, SPARSE), 0)
        or (FULL,) * n_layers,
        mlp_layer_types=_per_layer(text, "mlp_layer_types", text.get("moe_layer_freq"), (DENSE_MLP, MOE_MLP),
                                   n_layers),
        dense_intermediate_size=int(get("dense_intermediate_size", 12288)),
        moe_intermediate_size=int(get("intermediate_size")),
        shared_intermediate_size=int(get("shared_intermediate_size", 3072)),
        num_experts=int(text.get("num_local_experts", text.get("num_experts", 128))),
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
        max_position_embeddings=int(get("max_position_embeddings", 1_048_576)),
        tie_word_embeddings=bool(data.get("tie_word_embeddings", text.get("tie_word_embeddings", False))),
        image_token_id=data.get("image_token_index", data.get("image_token_id")),
        video_token_id=data.get("video_token_index", data.get("video_token_id")),
    )


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
