"""Readers for the sandbox tests, in a module of their own: the child process imports it to find
them, so it imports nothing heavy (no pytest, no torch) and nothing from the tests' setup."""

from __future__ import annotations

import sys
import time


def modules_and_memory(reporter) -> tuple[bool, bool]:
    """(torch is loaded in this process, a 1 GiB buffer can be allocated under the memory bound)."""
    try:
        buffer = bytearray(1 << 30)
    except MemoryError:
        return "torch" in sys.modules, False
    del buffer
    return "torch" in sys.modules, True


def busy_without_progress(seconds: float, reporter) -> str:
    """One long step that reports nothing itself (as Pillow decoding a large image), CPU-bound."""
    with reporter.working():
        end = time.monotonic() + seconds
        spins = 0
        while time.monotonic() < end:
            spins += 1
    return "finished"
