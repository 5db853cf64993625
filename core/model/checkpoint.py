"""A MiniMax-M3 checkpoint folder: find its safetensors shards, check them against the config.

Only the shard headers are read here (names, shapes, dtypes); tensors are memory-mapped one at
a time by `Checkpoint.tensor`, so nothing large is allocated before the whole checkpoint has
been checked. Pickle-based checkpoints (.bin, .pt, .pth) are refused: loading them can run
arbitrary code. Every problem is a `CheckpointError` naming the tensor, the shapes and the file.
Upstream tensor names (MSA.md §7) are the keys; mapping them onto our modules happens once, at
load time, in the model loader.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open

from .config import M3Config, MOE_MLP, SPARSE

TEXT = "language_model."
OTHER_PARTS = ("vision_tower.", "multi_modal_projector.", "patch_merge_mlp.")  # checked by the vision loader
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}


class CheckpointError(ValueError):
    """The checkpoint folder cannot be loaded; the message names the file and the tensor."""


@dataclass(frozen=True)
class TensorInfo:
    file: Path
    shape: tuple[int, ...]
    dtype: str


def expected_text_tensors(cfg: M3Config) -> dict[str, tuple[int, ...]]:
    """Every tensor of the text model, upstream name -> shape."""
    h, d, q, kv = cfg.hidden_size, cfg.head_dim, cfg.num_heads, cfg.num_kv_heads
    out = {
        f"{TEXT}model.embed_tokens.weight": (cfg.vocab_size, h),
        f"{TEXT}model.norm.weight": (h,),
    }
    if not cfg.tie_word_embeddings:
        out[f"{TEXT}lm_head.weight"] = (cfg.vocab_size, h)
    for i in range(cfg.num_layers):
        p = f"{TEXT}model.layers.{i}."
        out |= {
            p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
            p + "self_attn.q_proj.weight": (q * d, h), p + "self_attn.k_proj.weight": (kv * d, h),
            p + "self_attn.v_proj.weight": (kv * d, h), p + "self_attn.o_proj.weight": (h, q * d),
            p + "self_attn.q_norm.weight": (d,), p + "self_attn.k_norm.weight": (d,),
        }
        if cfg.layer_types[i] == SPARSE:
            di = cfg.index_head_dim
            out |= {
                p + "self_attn.index_q_proj.weight": (cfg.index_heads * di, h),
                p + "self_attn.index_k_proj.weight": (di, h),
                p + "self_attn.index_q_norm.weight": (di,), p + "self_attn.index_k_norm.weight": (di,),
            }
        if cfg.mlp_layer_types[i] == MOE_MLP:
            m, s = p + "block_sparse_moe.", cfg.shared_intermediate_size
            out |= {m + "gate.weight": (cfg.num_experts, h), m + "e_score_correction_bias": (cfg.num_experts,),
                    m + "shared_experts.gate_proj.weight": (s, h), m + "shared_experts.up_proj.weight": (s, h),
                    m + "shared_experts.down_proj.weight": (h, s)}
            w = cfg.moe_intermediate_size
            for e in range(cfg.num_experts):
                x = f"{m}experts.{e}."
                out |= {x + "w1.weight": (w, h), x + "w3.weight": (w, h), x + "w2.weight": (h, w)}
        else:
            w = cfg.dense_intermediate_size
            out |= {p + "mlp.gate_proj.weight": (w, h), p + "mlp.up_proj.weight": (w, h),
                    p + "mlp.down_proj.weight": (h, w)}
    return out


def _shard_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise CheckpointError(f"{index} is not a safetensors index (a 'weight_map' object): {err}") from err
        files = sorted({folder / name for name in weight_map.values()})
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise CheckpointError(f"{index} names shards that are not in {folder}: {', '.join(missing[:5])}")
        return files
    files = sorted(folder.glob("*.safetensors"))
    if files:
        return files
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise CheckpointError(
            f"{folder} holds only pickle-based weights ({', '.join(pickles[:3])}): loading them can run "
            "arbitrary code, so Spyglass refuses them. Convert the model to safetensors first.")
    raise CheckpointError(f"{folder} has no *.safetensors weights")


def _read_header(path: Path) -> dict[str, TensorInfo]:
    try:
        with safe_open(str(path), framework="pt") as f:
            return {name: TensorInfo(path, tuple(f.get_slice(name).get_shape()), f.get_slice(name).get_dtype())
                    for name in f.keys()}
    except Exception as err:  # safetensors raises its own error types; name the file either way
        raise CheckpointError(f"{path} is not a readable safetensors file: {err}") from err


class Checkpoint:
    """The tensors of a checkpoint folder, checked against a config, read lazily."""

    def __init__(self, folder: str | Path, cfg: M3Config):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise CheckpointError(f"{self.folder} is not a folder")
        self.tensors: dict[str, TensorInfo] = {}
        for shard in _shard_files(self.folder):
            for name, info in _read_header(shard).items():
                if name in self.tensors:
                    raise CheckpointError(f"tensor {name} is in both {self.tensors[name].file.name} and {shard.name}")
                self.tensors[name] = info
        self._check(expected_text_tensors(cfg))

    def _check(self, expected: dict[str, tuple[int, ...]]) -> None:
        missing = [n for n in expected if n not in self.tensors]
        if missing:
            raise CheckpointError(f"{len(missing)} tensors are missing from {self.folder}, first {missing[0]} "
                                  f"(shape {expected[missing[0]]}); is config.json the one of these weights?")
        unexpected = [n for n in self.tensors if n not in expected and not n.startswith(OTHER_PARTS)]
        if unexpected:
            info = self.tensors[unexpected[0]]
            raise CheckpointError(f"{len(unexpected)} tensors are not part of the model described by config.json, "
                                  f"first {unexpected[0]} in {info.file.name}")
        for name, shape in expected.items():
            info = self.tensors[name]
            if info.shape != shape:
                raise CheckpointError(f"tensor {name} in {info.file.name} has shape {info.shape}; "
                                      f"config.json implies {shape}")
        for name, info in self.tensors.items():
            if info.dtype not in DTYPES:
                raise CheckpointError(f"tensor {name} in {info.file.name} is {info.dtype}; "
                                      f"supported: {', '.join(DTYPES)}")

    def tensor(self, name: str, *, dtype: torch.dtype | None = None, device: str | torch.device = "cpu"):
        """One tensor, memory-mapped from its shard, converted and moved as asked."""
        info = self.tensors.get(name)
        if info is None:
            raise CheckpointError(f"{self.folder} has no tensor {name}")
        with safe_open(str(info.file), framework="pt") as f:
            t = f.get_tensor(name)
        return t.to(device=device, dtype=dtype or t.dtype)
