"""The window the desktop and agent tests drive: a small PySide6 program run as a child process.

`python tests/agent/target_app.py --at X,Y [--scale 2] [--banner TEXT]` opens a window with its
top-left at X,Y in X11 desktop pixels holding a text field, a password field, a checkbox, a button
that counts its clicks, a 200-row list, a drag source and a drop target (Qt drag and drop of mime
text), and with --banner a label of untrusted on-screen text (prompt-injection tests). It prints
`ready` once the window is exposed and active, then answers one JSON line per stdin line: `state`,
`geometry` (each widget's rectangle in X11 desktop pixels), `reset`, `focus NAME`, `quit`.
--scale 2 sets QT_SCALE_FACTOR=2: on X11 desktop coordinates are device pixels, so Qt renders every
widget at twice the size (a HiDPI desktop's look) while `geometry` still reports device pixels.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading

PAYLOAD = "payload-42"
TITLE = "Spyglass test target"
APP_NAME = "spyglass-target"
ROWS = 200
SIZE = (480, 380)  # logical; twice that in device pixels at --scale 2


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--at", default="1400,60", help="X,Y of the window's top-left in desktop pixels")
    parser.add_argument("--scale", type=float, default=1.0, help="Qt scale factor (QT_SCALE_FACTOR)")
    parser.add_argument("--banner", default="", help="untrusted text shown at the top of the window")
    args = parser.parse_args(argv)
    args.at = tuple(int(v) for v in args.at.split(","))
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    os.environ.pop("QT_SCALE_FACTOR", None)
    if args.scale != 1.0:
        os.environ["QT_SCALE_FACTOR"] = f"{args.scale:g}"
    from PySide6.QtWidgets import QApplication

    from tests.agent.target_widgets import Target

    app = QApplication([sys.argv[0]])
    app.setApplicationName(APP_NAME)
    window = Target(banner=args.banner, title=TITLE, payload=PAYLOAD, rows=ROWS, size=SIZE)
    window.place(args.at)
    threading.Thread(target=_read_stdin, args=(window,), daemon=True).start()
    window.show_when_ready(lambda: _say("ready"))
    return app.exec()


def _read_stdin(window) -> None:
    for line in sys.stdin:
        window.sig_command.emit(line.strip())
    window.sig_command.emit("quit")


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    sys.exit(main(sys.argv[1:]))
