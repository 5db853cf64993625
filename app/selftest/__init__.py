"""`spyglass --self-test`: proof that an installed Spyglass works, check by check, one line each.

It opens the window on a display (a virtual one when there is none), ingests a generated PDF,
image and video through the real bounded readers, streams a reply from the tiny GGUF bundled at
build time, takes a screenshot, runs one agent step in dry run (policy only, nothing executed),
and writes and reads history. The GPU edition (torch bundled) adds two: a reply streamed from a
tiny random M3 checkpoint through our MSA runtime, and one Triton kernel against its reference
(app/selftest/msa.py). Everything it writes goes to a temporary folder, which also stands
in for the user's config, data and cache folders, so the person's own settings and history are
never touched. Exit status 0 only when every check passed.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

GGUF_NAME = "tiny-m3-f32.gguf"
MSA_NAME = "tiny-m3-msa"  # the GPU edition's checkpoint folder (packaging/tiny_msa.py)


def bundled(name: str = GGUF_NAME) -> Path | None:
    """A file a frozen build carries for this test (packaging/spyglass.spec), if frozen."""
    base = getattr(sys, "_MEIPASS", None)
    return Path(base) / "selftest" / name if base else None


def bundled_gguf() -> Path | None:
    return bundled(GGUF_NAME)


def run_self_test(gguf: str | None = None, msa: str | None = None) -> int:
    """Run every check, print one line per check, return the exit status. The MSA checks run when
    a checkpoint is given (`msa`) or when a frozen build carries torch (the GPU edition)."""
    with tempfile.TemporaryDirectory(prefix="spyglass-selftest-") as tmp:
        root = Path(tmp)
        for name in ("config", "data", "cache"):
            os.environ[f"XDG_{name.upper()}_HOME"] = str(root / name)
        model = Path(gguf) if gguf else bundled_gguf()
        torch_bundled = importlib.util.find_spec("torch") is not None
        checkpoint = Path(msa) if msa else bundled(MSA_NAME) if torch_bundled else None
        return _run_checks(root, model, checkpoint)


def _run_checks(root: Path, model: Path | None, checkpoint: Path | None = None) -> int:
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
                if checkpoint is not None:
                    results += _msa_checks(checkpoint)
                results.append(_check("agent dry run", checks.agent_step))
                results.append(_check("history", lambda: checks.history(root)))
    except NoDisplay as err:
        print(f"FAIL display: {err}", flush=True)
        return 1
    failed = results.count(False)
    print(f"self-test: {len(results) - failed} of {len(results)} checks passed", flush=True)
    return 0 if results and not failed else 1


def _msa_checks(checkpoint: Path) -> list[bool]:
    """The GPU edition's two checks (each picks Triton's interpreter first when there is no GPU)."""
    from app.selftest import msa

    return [_check("msa reply", lambda: msa.msa_reply(checkpoint)), _check("triton kernel", msa.triton_kernel)]


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


__all__ = ["bundled", "bundled_gguf", "run_self_test"]
