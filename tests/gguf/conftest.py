"""Tiny GGUF models made here: a random MiniMax-M3 written by transformers, converted by
llama.cpp's own converter (from the llama-cpp-python source distribution that `make` keeps in
the wheelhouse), in F32 so the three implementations can be compared number for number."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.core.conftest import CORPUS, M3_TEMPLATE, SPECIALS, TINY_TEXT

LLAMA_VERSION = "0.3.36"
VOCAB = 320  # byte-level BPE needs the 256 bytes plus merges and the M3 special tokens
GGUF_TEXT = {**TINY_TEXT, "vocab_size": VOCAB}
# the smallest tower llama.cpp's converter writes a projector for: it needs 3 layers and a head
# dim of 80 (and a preprocessor_config.json beside the weights)
GGUF_VISION = dict(hidden_size=160, intermediate_size=320, num_hidden_layers=3, num_attention_heads=2)
# the template as the test models carry it, also reading content given as a list of text parts
# (how llama-cpp-python's own multimodal handler passes a message holding an image)
CONTENT = ("{% if m.content is string %}{{ m.content }}{% else %}"
           "{% for p in m.content %}{{ p.text }}{% endfor %}{% endif %}")
GGUF_TEMPLATE = M3_TEMPLATE.replace("{{ m.content }}", CONTENT)


def wheelhouse() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "spyglass" / "wheels"
    return Path(os.environ.get("SPYGLASS_WHEELHOUSE") or default)


@pytest.fixture(scope="session")
def llama_cpp_dir(tmp_path_factory) -> Path:
    return unpack_llama_cpp(tmp_path_factory.mktemp("llama_cpp"))


def unpack_llama_cpp(out: Path) -> Path:
    """llama.cpp's converter and gguf-py, unpacked into `out` from the cached source distribution
    (also used by packaging/tiny_gguf.py)."""
    sdist = wheelhouse() / f"llama_cpp_python-{LLAMA_VERSION}.tar.gz"
    assert sdist.is_file(), f"{sdist} is missing: `make test` (or `make llama-wheel`) downloads it"
    prefix = f"llama_cpp_python-{LLAMA_VERSION}/vendor/llama.cpp/"
    wanted = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix)
                   and m.name[len(prefix):].startswith(wanted)]
        for m in members:
            m.name = m.name[len(prefix):]
        tar.extractall(out, members=members, filter="data")
    return out


def byte_level_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS * 20, trainers.BpeTrainer(
        vocab_size=VOCAB, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tok


def write_m3_folder(folder: Path, *, end: str = "[e~[", text: dict | None = None) -> Path:
    """A tiny random M3 folder as transformers writes it, plus what the published checkpoint also
    carries: the upstream MSA and MoE config keys, and the chat template in tokenizer_config.json.
    `end` is the end-of-turn token (a benchmark picks one a random model never says); `text`
    changes the text model's config (another width makes a projector that does not fit)."""
    import torch
    from transformers import MiniMaxM3VLConfig
    from transformers.models.minimax_m3_vl.image_processing_minimax_m3_vl import MiniMaxM3VLImageProcessor
    from transformers.models.minimax_m3_vl.modeling_minimax_m3_vl import MiniMaxM3SparseForConditionalGeneration

    tok = byte_level_tokenizer()
    torch.manual_seed(0)
    cfg = MiniMaxM3VLConfig(text_config={**GGUF_TEXT, **(text or {})}, vision_config=GGUF_VISION,
                            projector_hidden_size=64,
                            image_token_index=tok.token_to_id("]<]image[>["),
                            video_token_index=tok.token_to_id("]<]video[>["))
    MiniMaxM3SparseForConditionalGeneration(cfg).save_pretrained(folder)
    MiniMaxM3VLImageProcessor().save_pretrained(folder)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "chat_template.jinja").write_text(GGUF_TEMPLATE)
    end_id = tok.token_to_id(end)
    (folder / "generation_config.json").write_text(json.dumps({"eos_token_id": end_id, "do_sample": False}))
    data = json.loads((folder / "config.json").read_text())
    text = data["text_config"]
    text.update(eos_token_id=end_id, n_shared_experts=1, scoring_func="sigmoid",
                moe_layer_freq=[0 if t == "dense" else 1 for t in text["mlp_layer_types"]],
                sparse_attention_config={
                    "sparse_num_index_heads": text["index_n_heads"], "sparse_index_dim": text["index_head_dim"],
                    "sparse_block_size": text["index_block_size"], "sparse_topk_blocks": text["index_topk_blocks"],
                    "sparse_local_block": text["index_local_blocks"], "sparse_init_block": 0})
    (folder / "config.json").write_text(json.dumps(data, indent=1))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "chat_template": GGUF_TEMPLATE, "tokenizer_class": "PreTrainedTokenizerFast", "eos_token": end,
        "bos_token": "]~!b[", "add_bos_token": False}))
    return folder


def convert(llama_dir: Path, folder: Path, out: Path, *flags: str) -> Path:
    runner = Path(__file__).with_name("convert_runner.py")
    run = subprocess.run([sys.executable, str(runner), str(llama_dir), str(folder), str(out), *flags],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and out.is_file(), run.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def m3_folder(tmp_path_factory) -> Path:
    return write_m3_folder(tmp_path_factory.mktemp("m3_for_gguf"))


@pytest.fixture(scope="session")
def m3_gguf(llama_cpp_dir, m3_folder, tmp_path_factory) -> Path:
    return convert(llama_cpp_dir, m3_folder, tmp_path_factory.mktemp("gguf") / "tiny-m3-f32.gguf")


@pytest.fixture(scope="session")
def m3_vision_gguf(llama_cpp_dir, m3_folder, m3_gguf, tmp_path_factory) -> Path:
    """The same model in a folder of its own with its vision projector beside it (`mmproj-*.gguf`),
    as the catalog downloads one; the text-only file above stays without a projector."""
    folder = tmp_path_factory.mktemp("gguf_vision")
    os.link(m3_gguf, folder / m3_gguf.name)
    convert(llama_cpp_dir, m3_folder, folder / "mmproj-tiny-m3-f32.gguf", "--mmproj")
    return folder / m3_gguf.name
