"""What `spyglass serve` plus the remote engine add to a local engine, on loopback (issue 14).

    PYTHONPATH=. .venv/bin/python benchmarks/serve.py --model bench.gguf [--tokens 64] [--repeats 9]

One GGUF engine is loaded once. Each repeat asks the same short conversation twice, taking turns:
through the engine called directly, and through the remote engine talking to `spyglass serve`
(uvicorn in a thread of this process, over 127.0.0.1) in front of that same engine. The prompt is
cached after the first ask, so time to first token is mostly fixed costs, which is what the
transport adds to. Time to first token: from the call to the first text event; per token: the
time from the first to the last text event over the tokens between (the GGUF engine sends its
events in batches of up to 10 ms, the same for both paths). Targets (issue 14): at most 1 ms added
per token and 20 ms to the first token. Make the model with `benchmarks/gguf.py --save`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.engine import GREEDY, GenerateOptions  # noqa: E402
from core.engine.gguf import GgufEngine  # noqa: E402
from core.engine.remote import RemoteEngine  # noqa: E402
from core.events import ReasoningDelta, TextDelta  # noqa: E402
from core.messages import Message  # noqa: E402
from core.server import bind, create_app, make_server, url_of  # noqa: E402
from core.settings import Settings  # noqa: E402

TOKEN = "benchmark-token-0123456789abcdef"


def timed(engine, messages: list[Message], tokens: int) -> tuple[float, float, int]:
    """(time to first token, seconds per token after it, tokens) of one greedy reply."""
    start = time.perf_counter()
    stamps = []
    for event in engine.generate(messages, GenerateOptions(sampling=GREEDY, max_tokens=tokens)):
        if isinstance(event, (TextDelta, ReasoningDelta)) and event.text:
            stamps.append(time.perf_counter())
    if len(stamps) < 2:
        raise SystemExit(f"{type(engine).__name__}: the reply had {len(stamps)} text events; pick another --prompt")
    return stamps[0] - start, (stamps[-1] - stamps[0]) / (len(stamps) - 1), len(stamps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--prompt", default="the quick brown fox jumps over the lazy dog")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    engine = GgufEngine(args.model, context_tokens=2048)
    engine.load()
    sock = bind("127.0.0.1", 0)
    server = make_server(create_app(engine, settings=Settings(), token=TOKEN))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    remote = RemoteEngine(base_url=url_of(sock) + "/v1", api_key=TOKEN, context_tokens=2048)
    remote.load()
    messages = [Message.text("user", args.prompt)]
    timed(engine, messages, args.tokens)  # warm: the prompt is cached from here on
    timed(remote, messages, args.tokens)
    runs: dict[str, list] = {"direct": [], "served": []}
    for _ in range(args.repeats):
        runs["direct"].append(timed(engine, messages, args.tokens))
        runs["served"].append(timed(remote, messages, args.tokens))
    remote.close()
    server.should_exit = True
    thread.join(10)
    engine.close()
    result = {
        side: {
            "ttft_ms": 1e3 * statistics.median(r[0] for r in rows),
            "per_token_ms": 1e3 * statistics.median(r[1] for r in rows),
            "tokens": rows[0][2],
        }
        for side, rows in runs.items()
    }
    d, s = result["direct"], result["served"]
    result["added"] = {"ttft_ms": s["ttft_ms"] - d["ttft_ms"], "per_token_ms": s["per_token_ms"] - d["per_token_ms"]}
    print(json.dumps(result))
    print(f"\n{args.tokens}-token greedy replies to a cached prompt, median of {args.repeats}, {os.cpu_count()} CPUs")
    print("| | direct | through serve + remote engine | added | target |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| time to first token (ms) | {d['ttft_ms']:.2f} | {s['ttft_ms']:.2f} | "
          f"{result['added']['ttft_ms']:+.2f} | ≤ 20 |")
    print(f"| per token (ms) | {d['per_token_ms']:.3f} | {s['per_token_ms']:.3f} | "
          f"{result['added']['per_token_ms']:+.3f} | ≤ 1 |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
