"""Entry point of the `spyglass` command and of `python -m app`.

`spyglass` alone opens the desktop window (Qt is imported only then); `spyglass chat --model DIR`
talks to a model in the terminal and `spyglass serve --model PATH` serves it over an
OpenAI-compatible HTTP API (`core/cli.py`) and `spyglass act "task"` carries out a task on the
screen (`core/agent/cli.py`); no Qt is loaded for any of them; `--version` prints the
version; `--self-test` checks an installed Spyglass end to end (app/selftest);
`--exit-when-shown` prints a line and exits once the window is on screen (the cold-start
benchmark). Window options (`--model`, `--device`, `--context`, `--data-dir`) override the
environment and the settings file (core/settings.py).
"""

import argparse

from app import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spyglass", description="Local-first desktop multimodal assistant.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation (window, files, a bundled tiny model, agent, history) and exit",
    )
    parser.add_argument("--self-test-gguf", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--self-test-msa", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--exit-when-shown", action="store_true", help=argparse.SUPPRESS)
    from app.application import add_app_arguments

    add_app_arguments(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    chat = commands.add_parser(
        "chat",
        help="chat with a local model in the terminal",
        description="Chat with a local model folder in the terminal.",
    )
    serve = commands.add_parser(
        "serve",
        help="serve a local model over an OpenAI-compatible HTTP API",
        description="Serve a local model over an OpenAI-compatible HTTP API on loopback.",
    )
    act = commands.add_parser(
        "act",
        help="carry out a task on the screen (computer use), asking before acting",
        description="Carry out a task on the screen, step by step, under the safety policy.",
    )
    from core.agent.cli import act_main, add_act_arguments
    from core.cli import add_chat_arguments, add_serve_arguments, chat_main, serve_main

    add_chat_arguments(chat)
    add_serve_arguments(serve)
    add_act_arguments(act)
    args = parser.parse_args(argv)
    if args.version:
        print(f"spyglass {__version__}")
        return 0
    if args.self_test:
        from app.selftest import run_self_test

        return run_self_test(args.self_test_gguf, args.self_test_msa)
    if args.command == "chat":
        return chat_main(args)
    if args.command == "serve":
        return serve_main(args)
    if args.command == "act":
        return act_main(args)
    from app.application import run_app

    return run_app(args)


if __name__ == "__main__":
    raise SystemExit(main())
