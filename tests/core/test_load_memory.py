"""Loading never holds two copies of the weights: peak resident memory of a fresh process.

A 2 GB fp32 checkpoint in 4 shards is loaded in a child process (so nothing else of the test
run counts). On the CPU, what the load adds to the process's peak resident set must stay below
1.25x the checkpoint: the peak is measured from just before loading, because importing the CUDA
build of torch alone makes about 0.5 GB resident (with the CPU build, 0.2 GB, the whole-process
peak was 1.17x). On a GPU, the host memory the load adds must stay below the largest shard plus
a margin.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .synthetic import write_checkpoint

ROOT = Path(__file__).resolve().parents[2]
GB = 10**9
TWO_GB_TEXT = dict(
    vocab_size=32000, hidden_size=1024, intermediate_size=1024, num_hidden_layers=9, num_attention_heads=16,
    num_key_value_heads=4, head_dim=64, dense_intermediate_size=4096, shared_intermediate_size=1024,
    num_local_experts=16, num_experts_per_tok=2, index_n_heads=4, index_head_dim=64, index_block_size=64,
    index_topk_blocks=4, layer_types=["full_attention"] + ["minimax_m3_sparse"] * 8,
    mlp_layer_types=["dense"] + ["sparse"] * 8,
)
CHILD = """
import json, re, sys, torch
from core.model.checkpoint import Checkpoint
from core.model.config import load_config
from core.model.m3 import M3TextModel
def high_water():  # VmHWM: this process's peak resident set (ru_maxrss would include the forking parent)
    status = open("/proc/self/status").read()
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) * 1024
folder, device = sys.argv[1], sys.argv[2]
cfg = load_config(folder)
ckpt = Checkpoint(folder, cfg)
if device == "cuda":
    torch.zeros(1, device="cuda")  # the CUDA context's own host memory is not the load's
before = high_water()
steps = []
model = M3TextModel(cfg, ckpt, dtype=torch.float32, device=device, on_progress=steps.append)
peak = high_water()
print(json.dumps({"before": before, "peak": peak, "steps": [s.step for s in steps],
                  "done": steps[-1].bytes_done, "total": steps[-1].bytes_total}))
"""


@pytest.fixture(scope="module")
def two_gb_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("two_gb")
    size = write_checkpoint(folder, TWO_GB_TEXT, shards=4)
    return folder, size


def test_loading_holds_one_copy(two_gb_checkpoint, device):
    folder, size = two_gb_checkpoint
    assert 2 * GB <= size < 2.2 * GB
    shards = sorted(folder.glob("*.safetensors"))
    assert len(shards) == 4
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", CHILD, str(folder), device], capture_output=True, text=True,
                         env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["steps"] == list(range(1, TWO_GB_TEXT["num_hidden_layers"] + 3))  # embeddings, 9 layers, head
    assert got["done"] == got["total"] == size
    added = got["peak"] - got["before"]
    if device == "cpu":
        assert added < 1.25 * size, f"loading added {added / GB:.2f} GB for a {size / GB:.2f} GB checkpoint"
    else:
        largest = max(p.stat().st_size for p in shards)
        assert added < largest + 0.25 * GB, f"the load added {added / GB:.2f} GB of host memory"
