"""Drives the test target window (target_app.py) from a test: starts it as a child process on the
current $DISPLAY, waits for its `ready`, and asks it for its state and widget rectangles.

Replies are read by a thread into a queue so every wait has a timeout; the child's stderr goes to
a temporary file that failures quote.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = Path(__file__).with_name("target_app.py")
SECOND_MONITOR_AT = (1400, 60)  # on the 1024x768 monitor, clear of its edges


class TargetApp:
    def __init__(self, *args: str, at: tuple[int, int] = SECOND_MONITOR_AT, timeout: float = 60) -> None:
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in close()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, str(APP), "--at", f"{at[0]},{at[1]}", *args]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self._stderr, text=True, env=env, cwd=ROOT)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        line = self._next(timeout)
        if line != "ready":
            raise RuntimeError(f"the target app did not get ready: {line!r}\n{self.stderr()}")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.strip())
        self._lines.put(None)

    def _next(self, timeout: float) -> str | None:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"the target app said nothing for {timeout} s\n{self.stderr()}") from None

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()[-4000:]

    def ask(self, command: str, timeout: float = 20) -> dict:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        line = self._next(timeout)
        if line is None:
            raise RuntimeError(f"the target app exited (status {self.process.poll()})\n{self.stderr()}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def state(self) -> dict:
        return self.ask("state")

    def rects(self) -> dict[str, list[int]]:
        return self.ask("geometry")["rects"]

    def center(self, name: str) -> tuple[int, int]:
        left, top, width, height = self.rects()[name]
        return left + width // 2, top + height // 2

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(RuntimeError):  # it may be gone already
                self.ask("quit", timeout=5)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._stderr.close()

    def __enter__(self) -> TargetApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
