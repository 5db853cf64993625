"""A MiniMax-M3 checkpoint folder: find its safetensors shards, check them against the config.

Only the shard headers are read here (names, shapes, dtypes, byte ranges); `Checkpoint.read_into`
memory-maps a shard, copies one tensor straight into its destination (any device and dtype) and
unmaps it again, so nothing large is allocated before the whole checkpoint has been checked and
the mapped file pages never pile up in the process's resident memory beside the loaded copy.
Pickle-based checkpoints (.bin, .pt, .pth) are refused: loading them can run arbitrary code.
Every problem is a `CheckpointError` naming the tensor, the shapes and the file.
Upstream tensor names (MSA.md §7) are the keys; mapping them onto our modules happens once, at
load time, in the model loader.
"""

from __future__ import annotations

import json
import math
import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from .config import MOE_MLP, SPARSE, M3Config

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
    start: int  # byte range in the file
    end: int


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
            p + "input_layernorm.weight": (h,),
            p + "post_attention_layernorm.weight": (h,),
            p + "self_attn.q_proj.weight": (q * d, h),
            p + "self_attn.k_proj.weight": (kv * d, h),
            p + "self_attn.v_proj.weight": (kv * d, h),
            p + "self_attn.o_proj.weight": (h, q * d),
            p + "self_attn.q_norm.weight": (d,),
            p + "self_attn.k_norm.weight": (d,),
        }
        if cfg.layer_types[i] == SPARSE:
            di = cfg.index_head_dim
            out |= {
                p + "self_attn.index_q_proj.weight": (cfg.index_heads * di, h),
                p + "self_attn.index_k_proj.weight": (di, h),
                p + "self_attn.index_q_norm.weight": (di,),
                p + "self_attn.index_k_norm.weight": (di,),
            }
        if cfg.mlp_layer_types[i] == MOE_MLP:
            m, s = p + "block_sparse_moe.", cfg.shared_intermediate_size
            out |= {
                m + "gate.weight": (cfg.num_experts, h),
                m + "e_score_correction_bias": (cfg.num_experts,),
                m + "shared_experts.gate_proj.weight": (s, h),
                m + "shared_experts.up_proj.weight": (s, h),
                m + "shared_experts.down_proj.weight": (h, s),
            }
            w = cfg.moe_intermediate_size
            for e in range(cfg.num_experts):
                x = f"{m}experts.{e}."
                out |= {x + "w1.weight": (w, h), x + "w3.weight": (w, h), x + "w2.weight": (h, w)}
        else:
            w = cfg.dense_intermediate_size
            out |= {
                p + "mlp.gate_proj.weight": (w, h),
                p + "mlp.up_proj.weight": (w, h),
                p + "mlp.down_proj.weight": (h, w),
            }
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
            "arbitrary code, so Spyglass refuses them. Convert the model to safetensors first."
        )
    raise CheckpointError(f"{folder} has no *.safetensors weights")


def _read_header(path: Path) -> dict[str, TensorInfo]:
    """The safetensors header: 8 bytes of little-endian length, then JSON name -> dtype/shape/offsets."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > min(size - 8, 100_000_000):
                raise ValueError(f"the header claims {n} bytes")
            header = json.loads(f.read(n))
        base, out = 8 + n, {}
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            shape, (start, end) = tuple(entry["shape"]), entry["data_offsets"]
            out[name] = TensorInfo(path, shape, entry["dtype"], base + start, base + end)
            if not base <= base + start <= base + end <= size:
                raise ValueError(f"tensor {name} lies outside the file")
            width = end - start
            if entry["dtype"] in DTYPES and width != math.prod(shape) * DTYPES[entry["dtype"]].itemsize:
                raise ValueError(f"tensor {name} has {width} bytes, not what shape {list(shape)} needs")
        return out
    except (OSError, ValueError, KeyError, TypeError, struct.error) as err:
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
            raise CheckpointError(
                f"{len(missing)} tensors are missing from {self.folder}, first {missing[0]} "
                f"(shape {expected[missing[0]]}); is config.json the one of these weights?"
            )
        unexpected = [n for n in self.tensors if n not in expected and not n.startswith(OTHER_PARTS)]
        if unexpected:
            info = self.tensors[unexpected[0]]
            raise CheckpointError(
                f"{len(unexpected)} tensors are not part of the model described by config.json, "
                f"first {unexpected[0]} in {info.file.name}"
            )
        for name, shape in expected.items():
            info = self.tensors[name]
            if info.shape != shape:
                raise CheckpointError(
                    f"tensor {name} in {info.file.name} has shape {info.shape}; config.json implies {shape}"
                )
        for name, info in self.tensors.items():
            if info.dtype not in DTYPES:
                raise CheckpointError(
                    f"tensor {name} in {info.file.name} is {info.dtype}; supported: {', '.join(DTYPES)}"
                )

    def read_into(self, name: str, out: torch.Tensor) -> None:
        """Copy tensor `name` into `out` (its device and dtype), through a short-lived mapping."""
        info = self.tensors.get(name)
        if info is None:
            raise CheckpointError(f"{self.folder} has no tensor {name}")
        if tuple(out.shape) != info.shape:
            raise CheckpointError(f"tensor {name} in {info.file.name} has shape {info.shape}, not {tuple(out.shape)}")
        if info.start == info.end:
            return
        with open(info.file, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) as mapped:
            src = torch.frombuffer(mapped, dtype=DTYPES[info.dtype], count=math.prod(info.shape), offset=info.start)
            out.copy_(src.view(info.shape))
            del src  # the mapping closes (and leaves resident memory) only once no tensor views it

    def tensor(self, name: str, *, dtype: torch.dtype | None = None, device: str | torch.device = "cpu"):
        """One tensor as a new `dtype` tensor on `device` (default: the file's dtype)."""
        info = self.tensors.get(name)
        if info is None:
            raise CheckpointError(f"{self.folder} has no tensor {name}")
        out = torch.empty(info.shape, dtype=dtype or DTYPES[info.dtype], device=device)
        self.read_into(name, out)
        return out

    def nbytes(self, names) -> int:
        return sum(self.tensors[n].end - self.tensors[n].start for n in names)
