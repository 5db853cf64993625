"""`spyglass --self-test`: proof that an installed Spyglass works, check by check, one line each.

It opens the window on a display (a virtual one when there is none), ingests a generated PDF,
image and video through the real bounded readers, streams a reply from the tiny GGUF bundled at
build time, takes a screenshot, runs one agent step in dry run (policy only, nothing executed),
and writes and reads history. Everything it writes goes to a temporary folder, which also stands
in for the user's config, data and cache folders, so the person's own settings and history are
never touched. Exit status 0 only when every check passed.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

GGUF_NAME = "tiny-m3-f32.gguf"


def bundled_gguf() -> Path | None:
    """The GGUF a frozen build carries for this test (packaging/spyglass.spec), if any."""
    base = getattr(sys, "_MEIPASS", None)
    return Path(base) / "selftest" / GGUF_NAME if base else None


def run_self_test(gguf: str | None = None) -> int:
    """Run every check, print one line per check, return the exit status."""
    with tempfile.TemporaryDirectory(prefix="spyglass-selftest-") as tmp:
        root = Path(tmp)
        for name in ("config", "data", "cache"):
            os.environ[f"XDG_{name.upper()}_HOME"] = str(root / name)
        model = Path(gguf) if gguf else bundled_gguf()
        return _run_checks(root, model)


def _run_checks(root: Path, model: Path | None) -> int:
    from app.selftest import checks
    from app.selftest.display import NoDisplay, display

    results = []
    try:
        with display() as name:
            print(f"display: {name}", flush=True)
            with checks.WindowCheck(root) as window:
                results.append(_check("window", window.open))
                results.append(_check("screenshot", window.screenshot))
                for kind in ("pdf", "image", "video"):
                    results.append(_check(f"ingest {kind}", lambda k=kind: checks.ingest(root, k)))
                results.append(_check("gguf reply", lambda: checks.gguf_reply(model)))
                results.append(_check("agent dry run", checks.agent_step))
                results.append(_check("history", lambda: checks.history(root)))
    except NoDisplay as err:
        print(f"FAIL display: {err}", flush=True)
        return 1
    failed = results.count(False)
    print(f"self-test: {len(results) - failed} of {len(results)} checks passed", flush=True)
    return 0 if results and not failed else 1


def _check(name: str, run: Callable[[], str]) -> bool:
    started = time.monotonic()
    try:
        detail = run()
    except Exception as err:  # noqa: BLE001 - every failure is this check's line, and the test goes on
        print(f"FAIL {name}: {type(err).__name__}: {err}", flush=True)
        traceback.print_exc()  # to standard error: the lines above stay one per check
        return False
    print(f"PASS {name}: {detail} ({time.monotonic() - started:.2f} s)", flush=True)
    return True


__all__ = ["bundled_gguf", "run_self_test"]
