"""Entry point of the `spyglass` command and of `python -m app`.

`spyglass` alone opens the desktop window (Qt is imported only then); `spyglass chat --model DIR`
talks to a model in the terminal (`core/cli.py`; no Qt is loaded for it); `--version` prints the
version. Window options (`--model`, `--device`, `--context`, `--data-dir`) override the
environment and the settings file (core/settings.py).
"""

import argparse

from app import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spyglass", description="Local-first desktop multimodal assistant.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    from app.application import add_app_arguments

    add_app_arguments(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    chat = commands.add_parser("chat", help="chat with a local model in the terminal",
                               description="Chat with a local model folder in the terminal.")
    from core.cli import add_chat_arguments, chat_main

    add_chat_arguments(chat)
    args = parser.parse_args(argv)
    if args.version:
        print(f"spyglass {__version__}")
        return 0
    if args.command == "chat":
        return chat_main(args)
    from app.application import run_app

    return run_app(args)


if __name__ == "__main__":
    raise SystemExit(main())
