"""A tiny random MiniMax-M3 checkpoint written by `transformers` itself (the upstream layout),
and the same checkpoint completed as a published folder: a tokenizer trained here, an M3-style
chat template, a generation config."""

from __future__ import annotations

import json
import shutil

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


def save_tiny_model(folder, *, max_shard_size=None, **extra):
    from transformers import MiniMaxM3VLConfig
    from transformers.models.minimax_m3_vl.modeling_minimax_m3_vl import MiniMaxM3SparseForConditionalGeneration

    torch.manual_seed(0)
    cfg = MiniMaxM3VLConfig(text_config=TINY_TEXT, vision_config=TINY_VISION, projector_hidden_size=64, **extra)
    model = MiniMaxM3SparseForConditionalGeneration(cfg)
    kwargs = {"max_shard_size": max_shard_size} if max_shard_size else {}
    model.save_pretrained(folder, **kwargs)
    return model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_m3")
    save_tiny_model(folder)
    return folder


# The M3 layout of MSA.md §7 as a checkpoint would ship it: roles, tools, tool calls, thinking.
M3_TEMPLATE = (
    "{% for m in messages %}"
    "{% if loop.first and m.role == 'system' %}]~!b[]~b]system\n{{ m.content }}"
    "{% if tools %}\nTools:{% for t in tools %} {{ t | tojson }}{% endfor %}{% endif %}[e~[\n"
    "{% elif m.role == 'user' %}]~b]user\n{{ m.content }}[e~[\n"
    "{% elif m.role == 'assistant' %}]~b]ai\n{{ m.content }}"
    "{% for c in m.tool_calls or [] %}]<]minimax[>[<tool_call><invoke name=\"{{ c.function.name }}\">"
    "{% for k, v in c.function.arguments.items() %}<{{ k }}>{{ v }}</{{ k }}>{% endfor %}</invoke>"
    "]<]minimax[>[</tool_call>{% endfor %}[e~[\n"
    "{% elif m.role == 'tool' %}]~b]tool\n{{ m.content }}[e~[\n"
    "{% else %}{{ raise_exception('unknown role ' ~ m.role) }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}]~b]ai\n{% if enable_thinking %}<mm:think>{% endif %}{% endif %}"
)
SPECIALS = ["[UNK]", "]~!b[", "]~b]", "[e~[", "<mm:think>", "</mm:think>", "]<]minimax[>[",
            "]<]image[>[", "]<]video[>[", "]<]start of image[>[", "]<]end of image[>["]
CORPUS = ["the quick brown fox jumps over the lazy dog", "what is in this picture? a cat on a mat",
          "please click the button and type hello", "system user ai tool call weather in paris"]


def train_tokenizer(vocab_size: int):
    """A small BPE tokenizer (Metaspace, so spaces round-trip) with the M3 special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="never")
    tok.decoder = decoders.Metaspace(prepend_scheme="never")
    alphabet = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;!?'\"-_()[]{}<>/=\n\u2581")
    tok.train_from_iterator(CORPUS * 20, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                                              initial_alphabet=alphabet))
    assert tok.get_vocab_size() <= vocab_size
    return tok


@pytest.fixture(scope="session")
def tiny_chat_dir(tiny_model_dir, tmp_path_factory):
    """The tiny checkpoint as a complete model folder an engine can load."""
    folder = tmp_path_factory.mktemp("tiny_chat")
    for f in tiny_model_dir.iterdir():
        shutil.copy(f, folder / f.name)
    tok = train_tokenizer(TINY_TEXT["vocab_size"])
    tok.save(str(folder / "tokenizer.json"))
    (folder / "chat_template.jinja").write_text(M3_TEMPLATE)
    (folder / "generation_config.json").write_text(json.dumps(
        {"eos_token_id": tok.token_to_id("[e~["), "do_sample": True, "temperature": 1.0, "top_p": 0.95}))
    return folder


def write_tiny_vl_folder(folder):
    """A complete tiny model folder whose image and video tokens are the tokenizer's own ids."""
    tok = train_tokenizer(TINY_TEXT["vocab_size"])
    save_tiny_model(folder, image_token_index=tok.token_to_id("]<]image[>["),
                    video_token_index=tok.token_to_id("]<]video[>["))
    tok.save(str(folder / "tokenizer.json"))
    (folder / "chat_template.jinja").write_text(M3_TEMPLATE)
    (folder / "generation_config.json").write_text(json.dumps({"eos_token_id": tok.token_to_id("[e~["),
                                                               "do_sample": False}))
    return folder


@pytest.fixture(scope="session")
def tiny_vl_dir(tmp_path_factory):
    return write_tiny_vl_folder(tmp_path_factory.mktemp("tiny_vl"))
