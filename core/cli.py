"""`spyglass chat`: talk to a local model folder in the terminal.

The prompt comes from the argument, or from standard input when it is piped; with neither, on a
terminal, the chat is interactive and each turn reuses the cache of the previous ones. Images and
videos given with `--image` / `--video` join the first message, ahead of its text; they are read
(and refused when unreadable) before the model loads. Answers
stream to standard output; reasoning and load progress go to standard error, so a piped answer
stays clean. Ctrl-C during a reply cancels that reply only. Problems with the model folder or the
prompt end the command with a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from core.events import Finished, LoadProgress, MalformedToolCall, ReasoningDelta, TextDelta, ToolCall, Usage
from core.messages import Message, TextPart

DTYPES = {"bf16": "bfloat16", "fp32": "float32"}


def add_chat_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", nargs="?", help="the message; read from standard input when omitted")
    parser.add_argument("--model", required=True, metavar="DIR", help="model folder (config.json, weights, ...)")
    parser.add_argument("--system", help="a system message")
    parser.add_argument("--image", action="append", default=[], metavar="FILE",
                        help="an image to ask about (PNG, JPEG, WebP, GIF, BMP, TIFF); repeatable")
    parser.add_argument("--video", action="append", default=[], metavar="FILE",
                        help="a video to ask about; repeatable")
    parser.add_argument("--video-fps", type=float, default=1.0, metavar="FPS",
                        help="frames sampled per second of video (default 1; at most 768 frames in all)")
    parser.add_argument("--device", help="cuda, cuda:1 or cpu (default: cuda when available)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), help="weights and cache (default: bf16 on CUDA, fp32)")
    parser.add_argument("--context", type=int, help="tokens of context to reserve (default 32768)")
    parser.add_argument("--max-tokens", type=int, default=1024, help="longest reply in tokens (default 1024)")
    parser.add_argument("--temperature", type=float, help="0 for greedy (default: the model's own setting)")
    parser.add_argument("--top-p", type=float)
    parser.add_argument("--top-k", type=int)
    parser.add_argument("--seed", type=int, help="makes sampling repeatable")
    parser.add_argument("--stop", action="append", default=[], help="end the reply at this text (repeatable)")
    parser.add_argument("--think", action=argparse.BooleanOptionalAction, default=None,
                        help="ask the template for (or against) a reasoning phase")


def _options(args, engine):
    from dataclasses import replace

    from core.engine import GenerateOptions

    sampling = engine.sampling
    overrides = {k: v for k, v in (("temperature", args.temperature), ("top_p", args.top_p),
                                   ("top_k", args.top_k), ("seed", args.seed)) if v is not None}
    template = {} if args.think is None else {"enable_thinking": args.think}
    return GenerateOptions(sampling=replace(sampling, **overrides), max_tokens=args.max_tokens,
                           stop=tuple(args.stop), template_options=template)


def _media_parts(args) -> list:
    """The images and videos named on the command line, read and checked before the model loads."""
    if not (args.image or args.video):
        return []
    from core.ingest import Limits, ingest_path

    parts, limits = [], Limits(video_fps=args.video_fps)
    for path, kind in [(p, "image") for p in args.image] + [(p, "video") for p in args.video]:
        got = ingest_path(path, limits=limits)
        if got.kind != kind:
            raise ValueError(f"{path} is a {got.kind} file; --{kind} takes {kind}s")
        parts.extend(got.parts)
    return parts


def _show_progress(p: LoadProgress) -> None:
    print(f"\rloading {p.step}/{p.total} ({p.bytes_done / 1e9:.2f} of {p.bytes_total / 1e9:.2f} GB)",
          end="\n" if p.step == p.total else "", file=sys.stderr, flush=True)


def _print_reply(engine, messages, options) -> tuple[str, Finished]:
    """Stream one reply; returns its answer text and how it finished."""
    answer, finished = [], Finished("error", "no reply")
    stream = engine.generate(messages, options)
    try:
        for event in stream:
            if isinstance(event, TextDelta):
                answer.append(event.text)
                print(event.text, end="", flush=True)
            elif isinstance(event, ReasoningDelta):
                print(event.text, end="", file=sys.stderr, flush=True)
            elif isinstance(event, ToolCall):
                print(f"\n[tool call] {event.name} {json.dumps(event.arguments, ensure_ascii=False)}", flush=True)
            elif isinstance(event, MalformedToolCall):
                print(f"\n[malformed tool call, not run] {event.raw}", flush=True)
            elif isinstance(event, Usage):
                print(f"\n[{event.prompt_tokens} prompt tokens ({event.cached_tokens} cached), "
                      f"{event.completion_tokens} generated]", file=sys.stderr)
            elif isinstance(event, Finished):
                finished = event
    except KeyboardInterrupt:
        engine.cancel()
        for event in stream:  # the stream ends at the next token with Finished("cancelled")
            finished = event if isinstance(event, Finished) else finished
    print()
    if finished.error:
        print(f"spyglass chat: the reply failed: {finished.error}", file=sys.stderr)
    return "".join(answer), finished


def chat_main(args: argparse.Namespace) -> int:
    import torch

    from core.engine import open_engine

    try:
        media = _media_parts(args)
        dtype = getattr(torch, DTYPES[args.dtype]) if args.dtype else None
        engine = open_engine(args.model, device=args.device, dtype=dtype, context_tokens=args.context)
        engine.load(on_progress=_show_progress)
        options = _options(args, engine)
    except (ValueError, RuntimeError, OSError) as err:
        print(f"spyglass chat: {err}", file=sys.stderr)
        return 2
    with engine:
        messages = [Message.text("system", args.system)] if args.system else []
        interactive = args.prompt is None and sys.stdin.isatty()
        prompt = args.prompt if args.prompt is not None else None if interactive else sys.stdin.read()
        while True:
            if interactive:
                try:
                    prompt = input("> ")
                except EOFError:
                    return 0
            messages.append(Message("user", (*media, TextPart(prompt))))
            media = []  # the media belong to the first message
            try:
                answer, finished = _print_reply(engine, messages, options)
            except ValueError as err:  # the prompt does not fit the context, or cannot be rendered
                print(f"spyglass chat: {err}", file=sys.stderr)
                if not interactive:
                    return 2
                messages.pop()
                continue
            if not interactive:
                return 1 if finished.reason == "error" else 0
            messages.append(Message.text("assistant", answer))
