"""A throwaway X desktop for tests: Xvfb with one 2304x800 screen that `xrandr --setmonitor` splits
into two monitors of different sizes, 1280x800 at 0,0 and 1024x768 at 1280,0, so the screen's
bounding box has a gap (x >= 1280, y >= 768) that is on no monitor.

Xvfb picks a free display number itself (-displayfd), so parallel test processes cannot collide.
It is started with `+extension RECORD`: pynput's global hotkey listener needs RECORD; Xvfb 21.1
enables it by default, older builds did not, and the flag is harmless when it is already on.
pyautogui binds to $DISPLAY the first time it is imported, so a test process should drive ONE
display: `shared_desktop()` hands the same server to every caller in the process and stops it when
the last one lets go.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import Xlib.display

SCREEN = (2304, 800)
MONITORS = ((0, 0, 1280, 800), (1280, 0, 1024, 768))  # left, top, width, height
GAP = (2000, 790)  # inside the screen's bounding box, on no monitor
BACKGROUND = (32, 64, 96)
TOOLS = ("Xvfb", "xrandr", "xsetroot")


@dataclass(frozen=True)
class XServer:
    display: str
    process: subprocess.Popen


def run_x(*args: str, display: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """Run an X client (xrandr, xdotool, ...) on `display`; raises if it fails."""
    env = {**os.environ, "DISPLAY": display}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed on {display}: {done.stderr.strip()}")
    return done


def start_xvfb(*, record: bool = True) -> XServer:
    """A running Xvfb with MONITORS, a solid BACKGROUND and (unless `record` is False) RECORD."""
    for tool in TOOLS:
        assert shutil.which(tool), f"{tool} is missing: run packaging/system-deps.sh"
    read, write = os.pipe()
    size = f"{SCREEN[0]}x{SCREEN[1]}x24"
    command = ["Xvfb", "-displayfd", str(write), "-screen", "0", size, "-nolisten", "tcp", "-noreset",
               "+extension" if record else "-extension", "RECORD"]
    process = subprocess.Popen(command, pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        server = XServer(f":{_read_display_number(read, process)}", process)
        _configure(server.display, record)
    except BaseException:
        _terminate(process)
        raise
    finally:
        os.close(read)
    return server


def _read_display_number(read: int, process: subprocess.Popen) -> str:
    ready, _, _ = select.select([read], [], [], 15)
    number = os.read(read, 64).decode().strip() if ready else ""
    if not number:
        status = process.poll()
        raise RuntimeError(f"Xvfb did not report a display within 15 s (exit status {status})")
    return number


def _configure(display: str, record: bool) -> None:
    connection = Xlib.display.Display(display)
    try:
        if record and not connection.has_extension("RECORD"):
            raise RuntimeError(f"Xvfb on {display} lacks the RECORD extension that pynput's hotkeys need")
    finally:
        connection.close()
    for name, (left, top, width, height), primary in (("LEFT", MONITORS[0], "screen"), ("RIGHT", MONITORS[1], "none")):
        mm = f"{width}/{round(width * 25.4 / 96)}x{height}/{round(height * 25.4 / 96)}+{left}+{top}"
        run_x("xrandr", "--setmonitor", name, mm, primary, display=display)
    run_x("xsetroot", "-solid", "#" + "".join(f"{c:02x}" for c in BACKGROUND), display=display)


def stop_xvfb(server: XServer) -> None:
    _terminate(server.process)


def _terminate(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)  # lets Xvfb remove its socket and lock file
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@contextlib.contextmanager
def xvfb_desktop(*, record: bool = True) -> Iterator[str]:
    """A private Xvfb for the span of the block, with $DISPLAY pointing at it; yields its name."""
    server = start_xvfb(record=record)
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = server.display
    try:
        yield server.display
    finally:
        if old is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = old
        stop_xvfb(server)


class _Shared:
    """The process's one test display and how many callers hold it."""

    lock = threading.Lock()
    users = 0
    context: contextlib.AbstractContextManager[str] | None = None
    display = ""


@contextlib.contextmanager
def shared_desktop() -> Iterator[str]:
    """The process's one test display (started by the first caller, stopped after the last)."""
    with _Shared.lock:
        if _Shared.users == 0:
            _Shared.context = xvfb_desktop()
            _Shared.display = _Shared.context.__enter__()
        _Shared.users += 1
    try:
        yield _Shared.display
    finally:
        with _Shared.lock:
            _Shared.users -= 1
            if _Shared.users == 0 and _Shared.context is not None:
                _Shared.context.__exit__(None, None, None)
                _Shared.context = None


def wait_for(predicate, timeout: float = 15, interval: float = 0.02, what: str = "condition"):
    """Poll `predicate` until it returns a truthy value (returned) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
