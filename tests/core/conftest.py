"""A tiny random MiniMax-M3 checkpoint written by `transformers` itself (the upstream layout)."""

from __future__ import annotations

import pytest
import torch

TINY_TEXT = dict(
    vocab_size=256, hidden_size=64, intermediate_size=32, num_hidden_layers=3, num_attention_heads=4,
    num_key_value_heads=2, head_dim=16, dense_intermediate_size=48, shared_intermediate_size=32,
    num_local_experts=4, num_experts_per_tok=2, rotary_dim=8, index_n_heads=2, index_head_dim=16,
    index_block_size=16, index_topk_blocks=4, max_position_embeddings=4096, bos_token_id=1, eos_token_id=2,
    layer_types=["full_attention", "minimax_m3_sparse", "minimax_m3_sparse"],
    mlp_layer_types=["dense", "sparse", "sparse"],
    # transformers 5.24 rotates head_dim * partial_rotary_factor dims and ignores rotary_dim
    rope_parameters={"rope_theta": 5_000_000.0, "rope_type": "default", "partial_rotary_factor": 0.5},
)
TINY_VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)


def save_tiny_model(folder, *, max_shard_size=None):
    from transformers import MiniMaxM3VLConfig
    from transformers.models.minimax_m3_vl.modeling_minimax_m3_vl import MiniMaxM3SparseForConditionalGeneration

    torch.manual_seed(0)
    cfg = MiniMaxM3VLConfig(text_config=TINY_TEXT, vision_config=TINY_VISION, projector_hidden_size=64)
    model = MiniMaxM3SparseForConditionalGeneration(cfg)
    kwargs = {"max_shard_size": max_shard_size} if max_shard_size else {}
    model.save_pretrained(folder, **kwargs)
    return model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_m3")
    save_tiny_model(folder)
    return folder
