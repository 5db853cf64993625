"""Checkpoint folders: upstream names and shapes, shards, and precise errors for bad ones."""

import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from core.model.checkpoint import Checkpoint, CheckpointError, expected_text_tensors
from core.model.config import load_config
from tests.core.conftest import save_tiny_model


def test_expected_names_and_shapes_are_exactly_what_transformers_saves(tiny_model_dir):
    cfg = load_config(tiny_model_dir)
    saved = load_file(tiny_model_dir / "model.safetensors")
    text = {k: tuple(v.shape) for k, v in saved.items() if k.startswith("language_model.")}
    assert text == expected_text_tensors(cfg)


def test_sharded_checkpoint_loads_lazily_with_the_right_values(tmp_path):
    model = save_tiny_model(tmp_path, max_shard_size="200KB")
    assert (tmp_path / "model.safetensors.index.json").is_file()
    ckpt = Checkpoint(tmp_path, load_config(tmp_path))
    assert len({info.file for info in ckpt.tensors.values()}) > 1
    state = model.state_dict()  # transformers' in-memory names differ from the upstream file names
    pairs = [("language_model.model.layers.1.self_attn.index_q_proj.weight",
              "model.language_model.layers.1.self_attn.indexer.q_proj.weight"),
             ("language_model.model.embed_tokens.weight", "model.language_model.embed_tokens.weight")]
    for upstream, in_memory in pairs:
        ours = ckpt.tensor(upstream, dtype=torch.bfloat16)
        assert ours.dtype == torch.bfloat16
        assert torch.equal(ours, state[in_memory].to(torch.bfloat16))


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def _rewrite(folder, edit):
    tensors = load_file(folder / "model.safetensors")
    edit(tensors)
    save_file(tensors, folder / "model.safetensors")


@pytest.mark.parametrize("edit,message", [
    (lambda t: t.pop("language_model.model.layers.2.self_attn.index_k_proj.weight"),
     r"missing .* first language_model.model.layers.2.self_attn.index_k_proj.weight \(shape \(16, 64\)\)"),
    (lambda t: t.update({"language_model.model.layers.0.self_attn.q_proj.weight": torch.zeros(60, 64)}),
     r"q_proj.weight in model.safetensors has shape \(60, 64\); config.json implies \(64, 64\)"),
    (lambda t: t.update({"language_model.model.layers.9.mlp.up_proj.weight": torch.zeros(4)}),
     "not part of the model described by config.json, first language_model.model.layers.9"),
    (lambda t: t.update({"language_model.model.norm.weight": torch.zeros(64, dtype=torch.int8)}),
     "norm.weight in model.safetensors is I8"),
])
def test_bad_tensors_get_errors_naming_them(tiny_model_dir, tmp_path, edit, message):
    folder = _copy(tiny_model_dir, tmp_path / "m")
    _rewrite(folder, edit)
    with pytest.raises(CheckpointError, match=message):
        Checkpoint(folder, load_config(folder))


def test_pickle_checkpoints_are_refused(tiny_model_dir, tmp_path):
    folder = _copy(tiny_model_dir, tmp_path / "m")
    (folder / "model.safetensors").unlink()
    torch.save({"w": torch.zeros(2)}, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pickle-based weights .*pytorch_model.bin.* refuses them"):
        Checkpoint(folder, load_config(folder))


def test_corrupt_shard_names_the_file(tiny_model_dir, tmp_path):
    folder = _copy(tiny_model_dir, tmp_path / "m")
    (folder / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{bad")
    with pytest.raises(CheckpointError, match="model.safetensors is not a readable safetensors file"):
        Checkpoint(folder, load_config(folder))


def test_truncated_shard_names_the_tensor_cut_off(tiny_model_dir, tmp_path):
    folder = _copy(tiny_model_dir, tmp_path / "m")
    shard = folder / "model.safetensors"
    shard.write_bytes(shard.read_bytes()[:-1000])  # a download that stopped early
    with pytest.raises(CheckpointError, match=r"model.safetensors is not a readable safetensors file: tensor "
                                              r"\S+ lies outside the file"):
        Checkpoint(folder, load_config(folder))
