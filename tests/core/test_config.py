"""M3 config parsing: the published layout, the legacy MSA block, the full model's cache size."""

import json

import pytest

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
