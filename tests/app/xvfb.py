"""A real X server for screenshot tests: Xvfb with one 2304x800 screen that `xrandr --setmonitor`
splits into two monitors of different sizes, 1280x800 and 1024x768 to its right (as in
tests/ingest/test_screen.py). The display number is the first free one from 120; the server is
stopped with SIGTERM when the context ends."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

MONITORS = ((0, 0, 1280, 800), (1280, 0, 1024, 768))  # left, top, width, height
BACKGROUND = (32, 64, 96)


def free_display() -> int:
    for n in range(120, 300):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise RuntimeError("no free X display number between 120 and 299")


def _x(*args: str, display: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, env={**os.environ, "DISPLAY": display}, timeout=20)


@contextlib.contextmanager
def two_monitor_desktop() -> Iterator[str]:
    """The DISPLAY of a running Xvfb with MONITORS and a solid BACKGROUND."""
    for tool in ("Xvfb", "xrandr", "xsetroot"):
        assert shutil.which(tool), f"{tool} is missing: run packaging/system-deps.sh"
    display = f":{free_display()}"
    server = subprocess.Popen(["Xvfb", display, "-screen", "0", "2304x800x24", "-nolisten", "tcp", "-noreset"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while _x("xrandr", "--listmonitors", display=display).returncode != 0:
            assert server.poll() is None, f"Xvfb exited with status {server.returncode}"
            assert time.monotonic() < deadline, f"Xvfb on {display} did not answer within 10 s"
            time.sleep(0.1)
        for name, (left, top, width, height), primary in (("LEFT", MONITORS[0], "screen"), ("RIGHT", MONITORS[1], "none")):
            mm = f"{width}/{round(width * 25.4 / 96)}x{height}/{round(height * 25.4 / 96)}+{left}+{top}"
            _x("xrandr", "--setmonitor", name, mm, primary, display=display).check_returncode()
        _x("xsetroot", "-solid", "#%02x%02x%02x" % BACKGROUND, display=display).check_returncode()
        yield display
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
