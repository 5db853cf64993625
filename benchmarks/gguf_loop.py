"""Our GGUF reply loop against a bare llama-cpp-python loop, in one process (issue 12).

    PYTHONPATH=. .venv/bin/python benchmarks/gguf_loop.py --model bench.gguf [--tokens 128] [--repeats 15]

`benchmarks/gguf.py` compares whole engines across a process boundary, where a shared machine's
drift is larger than the few percent at stake. This isolates our per-token work: the child's
`_Model.generate` (end checks, incremental UTF-8, stop strings, the stream parser) against
`llm.generate` plus one detokenize, on the same `Llama`, the same cached prompt, greedy, the two
taking turns. Make the model with `benchmarks/gguf.py --save bench.gguf`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.gguf import conversation  # noqa: E402
from core.engine import GREEDY, GenerateOptions  # noqa: E402
from core.engine.gguf_child import ChildParams, _Log, _Model  # noqa: E402
from core.procs import child_context  # noqa: E402


class _Nowhere:
    def send(self, message: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    model = _Model(ChildParams(str(args.model), 4096, 0, None, True, True, False), _Nowhere(), _Log())
    cancel = child_context().Event()  # the engine's kind of Event, checked every token
    messages = conversation(300, 5)
    options = GenerateOptions(sampling=GREEDY, max_tokens=args.tokens)

    def ours() -> float:
        prompt = model.prompt(messages, options)
        start = time.perf_counter()
        list(model.generate(prompt, options, cancel))
        return time.perf_counter() - start

    def bare() -> float:
        prompt = model.prompt(messages, options)
        start = time.perf_counter()
        out = []
        for token in model.llm.generate(prompt.ids, temp=0.0, top_k=1, repeat_penalty=1.0):
            out.append(token)
            if len(out) == args.tokens:
                break
        model.llm.detokenize(out, special=True)
        return time.perf_counter() - start

    ours(), bare()  # warm
    a, b = [], []
    for _ in range(args.repeats):
        a.append(ours())
        b.append(bare())
    print(f"{args.tokens} tokens, median of {args.repeats}: bare loop {statistics.median(b) * 1e3:.1f} ms, "
          f"ours {statistics.median(a) * 1e3:.1f} ms, ratio {statistics.median(a) / statistics.median(b):.3f}")
    model.close()


if __name__ == "__main__":
    main()
