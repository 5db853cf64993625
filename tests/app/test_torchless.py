"""torch and Triton are the MSA engine's alone: with both unimportable, the window starts, files
are ingested and a conversation runs through another engine (the lite installer relies on it)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_app_ingests_and_chats_with_torch_unimportable():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    run = subprocess.run([sys.executable, "-m", "tests.app.torchless_probe"], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["ready"] and got["attached"] and got["replied"], (got, run.stderr[-4000:])
    assert got["attachments"] == ["pdf", "image"]
    assert got["reply"].startswith("echo: ") and "what do they say?" in got["reply"]
    assert "The quick brown fox." in got["reply"]  # the PDF's text reached the engine
    assert not got["torch_loaded"]
