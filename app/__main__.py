"""Entry point of the `spyglass` command and of `python -m app`.

The window does not exist yet; until it does, the command says so plainly
instead of failing or pretending to start.
"""

import argparse

from app import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spyglass", description="Local-first desktop multimodal assistant.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    args = parser.parse_args(argv)
    if args.version:
        print(f"spyglass {__version__}")
        return 0
    print(
        f"spyglass {__version__}: the desktop application is not built yet; "
        "the chat window arrives with a later issue."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
