"""The GGUF engine against llama-cpp-python called directly, on the same file (issue 12).

    PYTHONPATH=. .venv/bin/python benchmarks/gguf.py [--prompt 2000] [--tokens 64] [--repeats 3]
        [--save bench.gguf | --model bench.gguf]

(`--save` keeps the converted model, `--model` runs on one saved before: how the GPU machine,
which has no converter, gets the same file; see benchmarks/gguf_device.sh.)

A random MiniMax-M3 of laptop-toy size (hidden 512, 4 layers, MSA with blocks of 64) is written
by transformers and converted to F16 by llama.cpp's converter (tests/gguf/conftest.py), then:
- time to first token: the wall time of a one-token reply to a `--prompt`-token conversation
  (prefill plus one step), first turn (cold cache) and second turn (the first turn's prompt and
  reply cached, a short new message), for both;
- decode tokens/s: (`--tokens` - 1) / (time of a `--tokens` reply - time of a one-token reply).
Both sides run llama.cpp with flash attention, the same threads and greedy sampling; ours goes
through the child process, the pipe, the template and the stream parser. Medians of `--repeats`
prompts, the two sides taking turns on each.
Targets (PERFORMANCE.md): our overhead at most 3%; second-turn TTFT at most a tenth of the first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.engine import GREEDY, GenerateOptions  # noqa: E402
from core.engine.gguf import GgufEngine  # noqa: E402
from core.messages import Message  # noqa: E402
from core.model.prompt import ChatTemplate  # noqa: E402
from tests.core.conftest import M3_TEMPLATE, TINY_TEXT  # noqa: E402
from tests.gguf import conftest as gguf  # noqa: E402

WORDS = "the quick brown fox jumps over the lazy dog what is in this picture a cat on a mat".split()


def build(folder: Path, llama_dir: Path) -> Path:
    gguf.GGUF_TEXT.update(TINY_TEXT | dict(
        vocab_size=gguf.VOCAB, hidden_size=512, intermediate_size=256, dense_intermediate_size=1024,
        shared_intermediate_size=256, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2,
        head_dim=64, num_local_experts=8, num_experts_per_tok=2, index_n_heads=2, index_head_dim=64,
        index_block_size=64, index_topk_blocks=8, max_position_embeddings=16384,
        layer_types=["full_attention"] + ["minimax_m3_sparse"] * 3, mlp_layer_types=["dense"] + ["sparse"] * 3,
        rope_parameters={"rope_theta": 5_000_000.0, "rope_type": "default", "partial_rotary_factor": 0.5},
        rotary_dim=32))
    gguf.write_m3_folder(folder, end="]<]video[>[")  # a token a random model never says: replies run full length
    return gguf.convert(llama_dir, folder, folder.parent / "bench-m3-f16.gguf", "--outtype", "f16")


def unpack_llama(into: Path) -> Path:
    import tarfile

    sdist = gguf.wheelhouse() / f"llama_cpp_python-{gguf.LLAMA_VERSION}.tar.gz"
    prefix = f"llama_cpp_python-{gguf.LLAMA_VERSION}/vendor/llama.cpp/"
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix)
                   and m.name[len(prefix):].startswith(("convert_hf_to_gguf.py", "conversion/", "gguf-py/"))]
        for m in members:
            m.name = m.name[len(prefix):]
        tar.extractall(into, members=members, filter="data")
    return into


def conversation(n_words: int, salt: int) -> list[Message]:
    """A user message of `n_words` words; `salt` makes its first token new, so no cache holds it."""
    text = " ".join([f"run{salt}"] + [WORDS[i % len(WORDS)] for i in range(n_words)])
    return [Message.text("user", text)]


class Direct:
    """llama-cpp-python as a program would call it: render, tokenize, generate."""

    def __init__(self, path: Path, ctx: int) -> None:
        from llama_cpp import Llama

        self.llm = Llama(model_path=str(path), n_ctx=ctx, flash_attn=True, verbose=False)
        self.template = ChatTemplate(M3_TEMPLATE)

    def reply(self, messages: list[Message], n: int) -> tuple[float, str]:
        prompt = self.template.render([{"role": m.role, "content": m.parts[0].text} for m in messages],
                                      bos_token="]~!b[", eos_token="[e~[")
        start = time.perf_counter()
        ids = self.llm.tokenize(prompt.encode(), add_bos=False, special=True)
        out = []
        for token in self.llm.generate(ids, temp=0.0, top_k=1, repeat_penalty=1.0):
            out.append(token)
            if len(out) == n:
                break
        text = self.llm.detokenize(out, special=True).decode("utf-8", errors="replace")
        return time.perf_counter() - start, text


class Ours:
    def __init__(self, path: Path, ctx: int) -> None:
        self.engine = GgufEngine(path, context_tokens=ctx)
        self.engine.load()

    def reply(self, messages: list[Message], n: int) -> tuple[float, str]:
        start = time.perf_counter()
        events = list(self.engine.generate(messages, GenerateOptions(sampling=GREEDY, max_tokens=n)))
        text = "".join(getattr(e, "text", "") for e in events)
        return time.perf_counter() - start, text


PLAIN_BREAKERS = ("<mm:think>", "</mm:think>", "]<]minimax[>[", "<think>", "</think>", "<tool_call>")


def plain_salts(direct: Direct, n_words: int, tokens: int, repeats: int) -> list[int]:
    """Prompts whose `tokens`-token reply is plain text. A random model sometimes says a reasoning
    or tool-call tag; the test template does not replay reasoning, so such a reply would come back
    re-rendered differently and the second turn would measure the template, not the cache. Both
    sides are greedy on the same weights, so both get the same replies to the same prompts."""
    salts: list[int] = []
    salt = 0
    while len(salts) < repeats:
        _, text = direct.reply(conversation(n_words, salt), tokens)
        if not any(tag in text for tag in PLAIN_BREAKERS):
            salts.append(salt)
        salt += 1
    return salts


def measure(sides: dict, n_words: int, tokens: int, salts: list[int]) -> dict:
    """Medians per side; the sides take turns on each prompt, so drift of a shared machine's speed
    falls on both alike."""
    times: dict = {name: {"first": [], "decode": [], "second": []} for name in sides}
    for r in salts:
        prompt = conversation(n_words, salt=r)
        for name, side in sides.items():
            t = times[name]
            t["first"].append(side.reply(prompt, 1)[0])  # cold: nothing of this prompt is cached
            hot, _ = side.reply(prompt, 1)  # the prompt cached: one step
            many, text = side.reply(prompt, tokens)
            t["decode"].append((tokens - 1) / (many - hot))
            turn2 = prompt + [Message.text("assistant", text), Message.text("user", "why is that so?")]
            t["second"].append(side.reply(turn2, 1)[0])  # the first turn's prompt cached, the rest new
    return {
        name: {"ttft_first_s": statistics.median(t["first"]), "decode_tok_s": statistics.median(t["decode"]),
               "ttft_second_s": statistics.median(t["second"])}
        for name, t in times.items()
    }


def words_for(direct: Direct, target: int) -> tuple[int, int]:
    """How many words make a `target`-token prompt, and the tokens they make."""
    def count(n: int) -> int:
        text = ChatTemplate(M3_TEMPLATE).render([{"role": "user", "content": conversation(n, 0)[0].parts[0].text}])
        return len(direct.llm.tokenize(text.encode(), add_bos=False, special=True))

    n = target
    for _ in range(4):
        n = max(1, round(n * target / count(n)))
    return n, count(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", type=int, default=2000, help="prompt tokens, about")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--save", type=Path, help="keep the converted model here")
    parser.add_argument("--model", type=Path, help="a model converted before with --save (nothing is built)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = args.model or build(root / "m3", unpack_llama(root / "llama"))
        if args.save:
            shutil.copyfile(path, args.save)
        ctx = args.prompt + 2 * args.tokens + 256
        direct = Direct(path, ctx)
        n_words, n_prompt = words_for(direct, args.prompt)
        results = {"prompt_tokens": n_prompt, "file_mb": round(path.stat().st_size / 1e6, 1)}
        salts = plain_salts(direct, n_words, args.tokens, args.repeats)
        direct.llm.close()
        direct = Direct(path, ctx)  # a fresh cache: the prompts above are not reused
        results["salts"] = salts
        ours = Ours(path, ctx)
        results |= measure({"direct": direct, "ours": ours}, n_words, args.tokens, salts)
        direct.llm.close()
        ours.engine.close()
    d, o = results["direct"], results["ours"]
    print(json.dumps(results))
    print(f"\n{n_prompt}-token prompt, {results['file_mb']} MB F16 GGUF, {args.tokens}-token replies, "
          f"median of {args.repeats}, {os.cpu_count()} CPUs")
    print("| | llama-cpp-python direct | ours | ours / direct |")
    print("| --- | --- | --- | --- |")
    for key, label in (("ttft_first_s", "first-turn TTFT (s)"), ("ttft_second_s", "second-turn TTFT (s)"),
                       ("decode_tok_s", "decode tok/s")):
        print(f"| {label} | {d[key]:.4f} | {o[key]:.4f} | {o[key] / d[key]:.3f} |")
    print(f"| second / first TTFT | {d['ttft_second_s'] / d['ttft_first_s']:.3f} | "
          f"{o['ttft_second_s'] / o['ttft_first_s']:.3f} | |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
