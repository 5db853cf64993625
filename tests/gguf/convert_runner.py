"""Run llama.cpp's own `convert_hf_to_gguf.py` on a folder written by transformers 5.24.

    python convert_runner.py LLAMA_CPP_DIR MODEL_DIR OUT.gguf [converter flags...]

Two shims, both about how the converter reads a folder, not what it computes:
- it reads config.json through `AutoConfig`, which rebuilds transformers' own config class and
  drops the upstream MiniMax-M3 keys the converter needs (`n_shared_experts`,
  `sparse_attention_config`, `moe_layer_freq`, `scoring_func`); made to fail, the converter falls
  back to the config.json as written, which carries them;
- it recognises a BPE tokenizer's pre-tokenizer by hashing its output on a fixed text, and a
  tokenizer trained by the test has no known hash: ours is byte-level BPE with GPT-2's regex, so
  it is declared "gpt-2", which is what it is.
"""

import runpy
import sys
from pathlib import Path

llama_dir, model_dir, out, *flags = sys.argv[1:]
sys.path[:0] = [llama_dir, str(Path(llama_dir) / "gguf-py")]

import transformers  # noqa: E402


def _published_config(*args, **kwargs):
    raise ValueError("read config.json as published")


transformers.AutoConfig.from_pretrained = _published_config
from conversion import base  # noqa: E402

base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "gpt-2"
sys.argv = ["convert_hf_to_gguf.py", model_dir, "--outfile", out, "--outtype", "f32", *flags]
runpy.run_path(str(Path(llama_dir) / "convert_hf_to_gguf.py"), run_name="__main__")
