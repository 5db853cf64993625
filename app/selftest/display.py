"""A display for the self-test: the one in DISPLAY, else a virtual one (Xvfb) started here.

A frozen bundle may run under `env -i`, with no PATH: Xvfb is looked up on PATH, then on the
system's default path (os.defpath) and /usr/bin. `-displayfd` lets Xvfb pick a free display
number and tell us once it is ready, so nothing waits on a guess. Qt's offscreen platform is not
enough: the screenshot check needs an X server to grab. On Windows and macOS the desktop is used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

SEARCH = os.pathsep.join(filter(None, [os.environ.get("PATH"), os.defpath, "/usr/bin", "/usr/local/bin"]))


class NoDisplay(RuntimeError):
    pass


@contextmanager
def display(size: str = "1280x800x24") -> Iterator[str]:
    """Yield a usable DISPLAY (set in os.environ); an Xvfb started here is ended on exit. Windows
    and macOS always have their desktop."""
    if not sys.platform.startswith("linux"):
        yield "the desktop"
        return
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    xvfb = shutil.which("Xvfb", path=SEARCH)
    if xvfb is None:
        raise NoDisplay("no DISPLAY and no Xvfb found (install the xvfb package, or run on a desktop)")
    read, write = os.pipe()
    server = subprocess.Popen(
        [xvfb, "-displayfd", str(write), "-screen", "0", size, "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as answer:
            number = answer.readline().strip()
        if not number:
            raise NoDisplay(f"{xvfb} did not start (exit status {server.poll()})")
        os.environ["DISPLAY"] = f":{number}"
        yield os.environ["DISPLAY"]
    finally:
        os.environ.pop("DISPLAY", None)
        server.terminate()
        server.wait(10)
