"""`spyglass chat`: talk to a model in the terminal; `spyglass serve`: the same model over HTTP.

The model and every option come from the same settings as the window (core/settings.py: flags
here, then `SPYGLASS_*`, then the settings file), and the backend from the same registry
(`core.engine.open_engine`). The prompt comes from the argument, or from standard input when it
is piped; with neither, on a terminal, the chat is interactive and each turn reuses the cache of
the previous ones. The turns go through `core.chat.Conversation` over an in-memory history, so
planning and attachments follow the window's rules. Images and videos given with `--image` /
`--video` join the first message, ahead of its text; they are read (and refused when unreadable)
before the model loads. Answers stream to standard output; reasoning, load progress and notes go
to standard error, so a piped answer stays clean. Ctrl-C during a reply cancels that reply only.
Problems with the model or the prompt end the command with a one-line message and exit status 2.
`spyglass serve` loads the model the same way and answers OpenAI-compatible requests
(core/server/) on loopback; another address needs `--expose`. Its bearer token is made on the
first start, kept in a file only the user can read, and shown that once.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from contextlib import closing

from core.events import Finished, LoadProgress, MalformedToolCall, ReasoningDelta, TextDelta, ToolCall, Usage
from core.settings import DTYPES, Settings, load_settings

SETTING_FLAGS = {
    "model": "model_dir",
    "engine": "engine",
    "device": "msa.device",
    "dtype": "msa.dtype",
    "context": "context_tokens",
    "max_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "seed": "seed",
    "think": "think",
    "system": "system_prompt",
}


def add_chat_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", nargs="?", help="the message; read from standard input when omitted")
    parser.add_argument("--model", metavar="DIR", help="model folder (default: the model_dir setting)")
    parser.add_argument("--engine", help="backend: auto (chosen from the model folder) or one the registry lists")
    parser.add_argument("--system", help="a system message")
    parser.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="FILE",
        help="an image to ask about (PNG, JPEG, WebP, GIF, BMP, TIFF); repeatable",
    )
    parser.add_argument("--video", action="append", default=[], metavar="FILE", help="a video to ask about; repeatable")
    parser.add_argument(
        "--video-fps",
        type=float,
        default=1.0,
        metavar="FPS",
        help="frames sampled per second of video (default 1; at most 768 frames in all)",
    )
    parser.add_argument("--device", help="cuda, cuda:1 or cpu (default: cuda when available)")
    parser.add_argument("--dtype", choices=DTYPES, help="weights and cache (default: bf16 on CUDA, fp32)")
    parser.add_argument("--context", type=int, help="tokens of context to reserve (default 32768)")
    parser.add_argument("--max-tokens", type=int, help="longest reply in tokens (default 1024)")
    parser.add_argument("--temperature", type=float, help="0 for greedy (default: the model's own setting)")
    parser.add_argument("--top-p", type=float)
    parser.add_argument("--top-k", type=int)
    parser.add_argument("--seed", type=int, help="makes sampling repeatable")
    parser.add_argument("--stop", action="append", default=[], help="end the reply at this text (repeatable)")
    parser.add_argument(
        "--think",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="ask the template for (or against) a reasoning phase",
    )


def chat_settings(args: argparse.Namespace) -> Settings:
    """The settings in force: these flags over the environment, the settings file and defaults."""
    return load_settings({key: getattr(args, flag) for flag, key in SETTING_FLAGS.items()})


def _attachments(args) -> list:
    """The images and videos named on the command line, read and checked before the model loads."""
    from core.chat import read_attachment
    from core.ingest import Limits

    found, limits = [], Limits(video_fps=args.video_fps)
    for path, kind in [(p, "image") for p in args.image] + [(p, "video") for p in args.video]:
        att = read_attachment(path, limits=limits)
        if att.kind != kind:
            raise ValueError(f"{path} is a {att.kind} file; --{kind} takes {kind}s")
        found.append(att)
    return found


def _show_progress(p: LoadProgress) -> None:
    size = ""
    if p.bytes_total:  # a remote engine loads no bytes here
        unit, scale = ("GB", 1e9) if p.bytes_total >= 1e9 else ("MB", 1e6)
        size = f" ({p.bytes_done / scale:.2f} of {p.bytes_total / scale:.2f} {unit})"
    print(f"\rloading {p.step}/{p.total}{size}", end="\n" if p.step == p.total else "", file=sys.stderr, flush=True)


def _print_event(event, answer: list[str]) -> None:
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
        print(
            f"\n[{event.prompt_tokens} prompt tokens ({event.cached_tokens} cached), "
            f"{event.completion_tokens} generated]",
            file=sys.stderr,
        )


def _print_reply(engine, stream) -> Finished:
    """Stream one reply to the terminal; returns how it finished. Ctrl-C cancels it."""
    answer: list[str] = []
    finished = Finished("error", "no reply")
    try:
        for event in stream:
            _print_event(event, answer)
            finished = event if isinstance(event, Finished) else finished
    except KeyboardInterrupt:
        engine.cancel()
        for event in stream:  # the stream ends at the next token with Finished("cancelled")
            finished = event if isinstance(event, Finished) else finished
    print()
    if finished.error:
        print(f"spyglass chat: the reply failed: {finished.error}", file=sys.stderr)
    return finished


def _notes(notes: tuple[str, ...]) -> None:
    for note in notes:
        print(f"spyglass chat: {note}", file=sys.stderr)


def chat_main(args: argparse.Namespace) -> int:
    from core.chat import Conversation
    from core.engine import open_engine, options_from_settings
    from core.history import HistoryStore

    try:
        settings = chat_settings(args)
        attachments = _attachments(args)
        engine = open_engine(settings)
        engine.load(on_progress=_show_progress)
        options = options_from_settings(settings, stop=tuple(args.stop))
    except (ValueError, RuntimeError, OSError) as err:
        print(f"spyglass chat: {err}", file=sys.stderr)
        return 2
    with closing(engine), HistoryStore(":memory:") as store:
        chat = Conversation(store)
        interactive = args.prompt is None and sys.stdin.isatty()
        prompt = args.prompt if args.prompt is not None else None if interactive else sys.stdin.read()
        while True:
            if interactive:
                try:
                    prompt = input("> ")
                except EOFError:
                    return 0
            assert prompt is not None  # given, read from stdin, or typed above
            turn = chat.send(prompt, attachments)
            attachments = []  # they belong to the first message
            try:
                finished = _print_reply(
                    engine, chat.reply(engine, options, turn, system_prompt=settings.system_prompt, on_notes=_notes)
                )
            except ValueError as err:  # the prompt does not fit the context, or cannot be rendered
                print(f"spyglass chat: {err}", file=sys.stderr)
                if not interactive:
                    return 2
                continue
            if not interactive:
                return 1 if finished.reason == "error" else 0


SERVE_FLAGS = {
    "model": "model_dir",
    "engine": "engine",
    "device": "msa.device",
    "dtype": "msa.dtype",
    "context": "context_tokens",
    "host": "serve.host",
    "port": "serve.port",
    "queue": "serve.queue",
    "allow_remote_images": "serve.allow_remote_images",
    "max_body_bytes": "serve.max_body_bytes",
}


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="PATH", help="model folder or file (default: the model_dir setting)")
    parser.add_argument("--engine", help="backend: auto (chosen from the model) or one the registry lists")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8000; 0 for any free port)")
    parser.add_argument("--queue", type=int, help="requests that may wait for the engine; more get 429 (default 8)")
    parser.add_argument(
        "--expose",
        action="store_true",
        help="allow a --host that is not loopback; its name is then accepted in the Host header",
    )
    parser.add_argument(
        "--allow-host", action="append", default=[], metavar="NAME", help="another Host name to accept (with --expose)"
    )
    parser.add_argument(
        "--allow-remote-images",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="fetch http(s) image URLs (default: only data: URIs)",
    )
    parser.add_argument("--max-body-bytes", type=int, help="largest request body (default 64 MiB)")
    parser.add_argument("--token-file", metavar="FILE", help="where the bearer token is kept (default: config folder)")
    parser.add_argument("--context", type=int, help="tokens of context to reserve (default 32768)")
    parser.add_argument("--device", help="cuda, cuda:1 or cpu (default: cuda when available)")
    parser.add_argument("--dtype", choices=DTYPES, help="weights and cache (default: bf16 on CUDA, fp32)")


def _serve_token(args: argparse.Namespace) -> str:
    from pathlib import Path

    from core.server import load_or_create_token
    from core.settings import user_config_dir

    path = Path(args.token_file) if args.token_file else user_config_dir() / "serve-token"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    token, created = load_or_create_token(path)
    if created:
        print(f"spyglass serve: a new bearer token, shown this once (kept in {path}):\n{token}", file=sys.stderr)
    else:
        print(f"spyglass serve: the bearer token is in {path}", file=sys.stderr)
    return token


def serve_main(args: argparse.Namespace) -> int:
    from core.engine import open_engine
    from core.server import bind, create_app, make_server, url_of
    from core.server.guard import is_loopback

    try:
        settings = load_settings({key: getattr(args, flag) for flag, key in SERVE_FLAGS.items()})
        host = settings.serve.host
        if not is_loopback(host) and not args.expose:
            raise ValueError(f"{host} is not a loopback address; pass --expose to serve other computers")
        token = _serve_token(args)
        sock = bind(host, settings.serve.port)
        engine = open_engine(settings)
        engine.load(on_progress=_show_progress)
    except (ValueError, RuntimeError, OSError) as err:
        print(f"spyglass serve: {err}", file=sys.stderr)
        return 2
    with closing(engine), closing(sock):
        extra = [host, *args.allow_host] if args.expose else []
        app = create_app(engine, settings=settings, token=token, extra_hosts=extra)
        print(f"spyglass serve: {engine.info().model} at {url_of(sock)}/v1", file=sys.stderr, flush=True)
        # uvicorn stops gracefully on SIGINT or SIGTERM, then raises the signal again; both become
        # KeyboardInterrupt here, so the engine is closed (and a GGUF child stopped) either way
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            make_server(app).run(sockets=[sock])
        except KeyboardInterrupt:
            print("spyglass serve: stopped", file=sys.stderr)
    return 0
