"""M3 config parsing: the published layout, the legacy MSA block, the full model's cache size, and
every field read as transformers reads it or refused (RoPE, rotary dims, ties, unsupported fields)."""

import json

import pytest
import torch

from core.model.config import ConfigError, config_from_dict, load_config


def test_reads_the_config_transformers_writes(tiny_model_dir):
    cfg = load_config(tiny_model_dir)
    assert (cfg.num_layers, cfg.hidden_size, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim) == (3, 64, 4, 2, 16)
    assert cfg.layer_types == ("full_attention", "minimax_m3_sparse", "minimax_m3_sparse")
    assert cfg.sparse_layers == (1, 2) and cfg.moe_layers == (1, 2)
    assert (cfg.index_heads, cfg.index_head_dim, cfg.index_block_size, cfg.index_topk_blocks) == (2, 16, 16, 4)
    assert (cfg.index_init_blocks, cfg.index_local_blocks) == (0, 1)
    assert cfg.rope_theta == 5_000_000.0 and cfg.rotary_dim == 8
    assert cfg.moe_intermediate_size == 32 and cfg.num_experts == 4 and cfg.experts_per_token == 2
    assert cfg.image_token_id == 200025 and cfg.video_token_id == 200026


def test_legacy_sparse_attention_block_gives_the_same_config(tiny_model_dir):
    data = json.loads((tiny_model_dir / "config.json").read_text())
    text = data["text_config"]
    flat = config_from_dict(data)
    for key in ("index_n_heads", "index_head_dim", "index_block_size", "index_topk_blocks", "index_local_blocks",
                "layer_types", "mlp_layer_types"):
        text.pop(key)
    text["sparse_attention_config"] = {
        "sparse_num_index_heads": 2, "sparse_index_dim": 16, "sparse_block_size": 16, "sparse_topk_blocks": 4,
        "sparse_init_block": 0, "sparse_local_block": 1, "sparse_attention_freq": [0, 1, 1],
    }
    text["moe_layer_freq"] = [0, 1, 1]
    assert config_from_dict(data) == flat


def full_m3() -> dict:
    return {"text_config": {
        "vocab_size": 200064, "hidden_size": 6144, "num_hidden_layers": 60, "num_attention_heads": 64,
        "num_key_value_heads": 4, "head_dim": 128, "intermediate_size": 3072, "rotary_dim": 64,
        "layer_types": ["full_attention"] * 3 + ["minimax_m3_sparse"] * 57,
        "mlp_layer_types": ["dense"] * 3 + ["sparse"] * 57,
        "index_n_heads": 4, "index_head_dim": 128, "index_block_size": 128, "index_topk_blocks": 16,
    }}


def test_full_m3_cache_is_137_5_kb_per_token():
    cfg = config_from_dict(full_m3())
    assert cfg.cache_bytes_per_token(2) == (60 * 2 * 4 * 128 + 57 * 128) * 2 == 137_472  # 137.5 KB


@pytest.mark.parametrize("edit,message", [
    (lambda t: t.pop("hidden_size"), "no 'hidden_size'"),
    (lambda t: t.update(layer_types=t["layer_types"][:-1]), "layer_types has 59 entries"),
    (lambda t: t.update(index_n_heads=8), "index_n_heads 8 must equal num_key_value_heads 4"),
    (lambda t: t.update(num_attention_heads=62), "not a multiple"),
    (lambda t: t.update(layer_types=["dense_attention"] * 60), "expected only"),
])
def test_inconsistent_configs_are_refused(edit, message):
    data = full_m3()
    edit(data["text_config"])
    with pytest.raises(ConfigError, match=message):
        config_from_dict(data)


def test_missing_or_broken_config_file(tmp_path):
    with pytest.raises(ConfigError, match="needs its config.json"):
        load_config(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not readable JSON"):
        load_config(tmp_path)


# --- finding 6: every field computes what transformers computes, or is refused --------------------

def tiny_text(**changes) -> dict:
    from tests.core.conftest import TINY_TEXT

    text = {k: v for k, v in TINY_TEXT.items() if k not in ("rotary_dim", "rope_parameters")}
    return {**text, **changes}


def transformers_rope(text: dict):
    """transformers' own reading of a text config: (inv_freq, attention scaling)."""
    from transformers import MiniMaxM3VLConfig
    from transformers.models.minimax_m3_vl.modeling_minimax_m3_vl import MiniMaxM3VLRotaryEmbedding

    cfg = MiniMaxM3VLConfig.from_dict({"model_type": "minimax_m3_vl", "text_config": dict(text)})
    rotary = MiniMaxM3VLRotaryEmbedding(cfg.text_config)
    return rotary.inv_freq, rotary.attention_scaling


ROPE_CASES = {
    "neither": {},
    "rotary_dim only": {"rotary_dim": 8},
    "partial_rotary_factor only": {"rope_parameters": {"rope_type": "default", "partial_rotary_factor": 0.5}},
    "both, disagreeing": {"rotary_dim": 4, "rope_parameters": {"rope_type": "default", "partial_rotary_factor": 0.5}},
    "top-level theta and factor": {"rope_theta": 1e4, "partial_rotary_factor": 0.25},
    "linear": {"rope_parameters": {"rope_type": "linear", "factor": 4.0, "rope_theta": 1e4,
                                   "partial_rotary_factor": 0.5}},
    "legacy rope_scaling replaces rope_parameters": {
        "rope_scaling": {"type": "linear", "factor": 2.0},
        "rope_parameters": {"rope_type": "default", "rope_theta": 7.0, "partial_rotary_factor": 0.5}},
    "yarn": {"rope_parameters": {"rope_type": "yarn", "factor": 8.0, "rope_theta": 1e4,
                                 "original_max_position_embeddings": 512, "partial_rotary_factor": 0.5}},
    "yarn with mscale and defaults": {"rope_parameters": {"rope_type": "yarn", "factor": 4.0, "mscale": 0.7,
                                                          "mscale_all_dim": 0.5, "beta_fast": 16}},
    "yarn, top-level original length wins": {"original_max_position_embeddings": 256,
                                             "rope_parameters": {"rope_type": "yarn", "factor": 4.0,
                                                                 "original_max_position_embeddings": 512}},
    "yarn, factor from the lengths": {"original_max_position_embeddings": 256,
                                      "rope_parameters": {"rope_type": "yarn", "factor": None, "truncate": False}},
}


@pytest.mark.parametrize("changes", ROPE_CASES.values(), ids=ROPE_CASES.keys())
def test_rotary_dims_and_frequencies_are_transformers(changes):
    """Which dims rotate (transformers reads head_dim x partial_rotary_factor, never rotary_dim),
    at which frequencies, with which cos/sin scale: equal to transformers' for every spelling."""
    text = tiny_text(**changes)
    theirs, scaling = transformers_rope(text)
    cfg = config_from_dict({"text_config": text})
    assert cfg.rotary_dim == 2 * theirs.numel()
    from core.model.rope import inv_freq

    assert torch.equal(inv_freq(cfg.rope), theirs)
    assert cfg.rope.attention_factor == pytest.approx(scaling, rel=1e-12)


def test_index_head_dim_below_the_rotary_dims_is_refused():
    text = tiny_text(head_dim=32, index_head_dim=16, rope_parameters={"rope_type": "default"})  # 32 rotary dims
    with pytest.raises(ConfigError, match=r"index_head_dim 16 is smaller than the 32 rotary dims"):
        config_from_dict({"text_config": text})


@pytest.mark.parametrize("field,rope", [
    ("rope_parameters", {"rope_type": "dynamic", "factor": 2.0}),
    ("rope_parameters", {"rope_type": "llama3", "factor": 8.0}),
    ("rope_scaling", {"type": "longrope", "factor": 2.0}),
])
def test_unsupported_rope_types_are_refused(field, rope):
    kind = rope.get("rope_type", rope.get("type"))
    with pytest.raises(ConfigError, match=rf"{field}.rope_type is '{kind}'; Spyglass implements only default, "
                                          "linear, yarn"):
        config_from_dict({"text_config": tiny_text(**{field: rope})})


@pytest.mark.parametrize("field,value", [
    ("attention_bias", True), ("mlp_bias", True), ("sliding_window", 4096), ("use_sliding_window", True),
    ("use_qk_norm", False), ("hidden_act", "gelu"), ("scoring_func", "softmax"), ("norm_topk_prob", False),
    ("n_group", 8), ("final_logit_softcapping", 30.0), ("index_init_blocks", 1),
])
def test_fields_that_change_the_computation_are_refused(field, value):
    with pytest.raises(ConfigError, match=rf"{field} is {value!r}, which means .* does not implement it"):
        config_from_dict({"text_config": tiny_text(**{field: value})})


def test_neutral_values_of_those_fields_load():
    text = tiny_text(attention_bias=False, sliding_window=None, use_qk_norm=True, hidden_act="swigluoai",
                     scoring_func="sigmoid", attention_dropout=0.1, router_jitter_noise=0.5)
    config_from_dict({"text_config": text})


def test_legacy_initial_blocks_are_refused():
    text = tiny_text(sparse_attention_config={"sparse_init_block": 2})
    with pytest.raises(ConfigError, match="index_init_blocks is 2"):
        config_from_dict({"text_config": text})


def test_tied_embeddings_as_transformers_reads_them():
    """transformers ties the head when either the VL config or its text config asks for it."""
    from transformers import MiniMaxM3VLConfig

    for top, inner in ((False, True), (True, False), (False, False)):
        data = {"model_type": "minimax_m3_vl", "tie_word_embeddings": top,
                "text_config": tiny_text(tie_word_embeddings=inner)}
        assert config_from_dict(data).tie_word_embeddings == MiniMaxM3VLConfig.from_dict(data).tie_word_embeddings


def test_a_head_dim_the_kernels_lack_is_refused_at_load_when_triton_is_chosen(device):
    """head_dim 24 is computable by the reference backend but not by the Triton kernels: choosing
    Triton for it fails at load with the field named, before any weight is read."""
    from core.model.attention import choose_attention
    from core.model.m3 import M3TextModel

    cfg = config_from_dict({"text_config": tiny_text(head_dim=24, rope_parameters={"partial_rotary_factor": 0.5})})
    assert choose_attention("cpu", "reference", cfg=cfg).name == "reference"

    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError("weights were read before the config was checked")

    with pytest.raises(ConfigError, match=r"head_dim is 24; the kernels support head dims 16, 32, 64, 128 and 256"):
        M3TextModel(cfg, Untouchable(), attention="triton", device=device)
    with pytest.raises(ConfigError, match="index_block_size=24"):
        choose_attention(device, "triton", cfg=config_from_dict({"text_config": tiny_text(index_block_size=24)}))
