"""Random M3 text checkpoints of any size, written in the upstream layout without building a model.

For tests that need a checkpoint larger than transformers can build quickly (the loading-memory
test): config.json in the published layout, the expected text tensors filled with random values,
split into shards of about equal size with their `model.safetensors.index.json`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import save_file

from core.model.checkpoint import expected_text_tensors
from core.model.config import config_from_dict


def write_checkpoint(folder: Path, text_config: dict, *, shards: int, dtype=torch.float32, seed: int = 0) -> int:
    """Write the checkpoint; returns the bytes of tensor data written."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {"model_type": "minimax_m3_vl", "text_config": text_config}
    (folder / "config.json").write_text(json.dumps(data))
    shapes = expected_text_tensors(config_from_dict(data))
    total = sum(math.prod(s) for s in shapes.values()) * dtype.itemsize
    gen = torch.Generator().manual_seed(seed)
    groups, size, weight_map = [[] for _ in range(shards)], 0, {}
    for name, shape in shapes.items():
        groups[min(shards - 1, size * shards // total)].append(name)
        size += math.prod(shape) * dtype.itemsize
    for i, names in enumerate(groups):
        file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        save_file({n: (torch.rand(shapes[n], generator=gen) * 0.02 - 0.01).to(dtype) for n in names},
                  str(folder / file))
        weight_map |= dict.fromkeys(names, file)
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return total
