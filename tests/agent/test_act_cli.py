"""`spyglass act` in a child process on the real two-monitor display: the scripted engine is a
`.agentscript` file, the target app sits on monitor 2 (so the model's image is that monitor,
unscaled). Without a terminal nothing that needs consent runs; on a terminal (a pseudo-terminal
here) "y" runs the step; every step lands in the history file."""

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from core.history import HistoryStore
from tests.agent.target import TargetApp

ROOT = Path(__file__).resolve().parents[2]
CLI = "import sys, tests.agent.scripted; from app.__main__ import main; sys.exit(main(sys.argv[1:]))"
pytestmark = pytest.mark.timeout(120)


def script(tmp_path: Path, app: TargetApp) -> Path:
    x, y = app.center("button")
    path = tmp_path / "clicks.agentscript"  # monitor 2 starts at x = 1280
    path.write_text(json.dumps([{"tool": {"action": "click", "coordinate": [x - 1280, y]}},
                                {"tool": {"action": "done", "text": "clicked"}}]))
    return path


def act(tmp_path: Path, model: Path, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    args = [sys.executable, "-c", CLI, "act", "click the button once", "--model", str(model), "--monitor", "2",
            "--data-dir", str(tmp_path / "data")]
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, **kw)


def logged(tmp_path: Path):
    with HistoryStore(tmp_path / "data" / "history.sqlite3") as store:
        [task] = store.agent_tasks()
        return task, store.agent_steps(task.id)


def test_without_a_terminal_what_needs_consent_is_refused(desktop, tmp_path):
    with TargetApp() as app:
        result = act(tmp_path, script(tmp_path, app), stdin=subprocess.DEVNULL)
        assert result.returncode == 1, result.stderr
        assert "no terminal to ask on" in result.stderr
        assert "step 1: click at" in result.stdout and "-> denied: no one could be asked" in result.stdout
        assert app.state()["clicks"] == 0
    task, steps = logged(tmp_path)
    assert task.ending == "denied" and [s.outcome for s in steps] == ["denied"]
    assert steps[0].action["kind"] == "click" and steps[0].thumbnail.startswith(b"\x89PNG")


def test_on_a_terminal_yes_runs_the_step(desktop, tmp_path):
    with TargetApp() as app:
        leader, follower = pty.openpty()
        os.write(leader, b"y\n")
        try:
            result = act(tmp_path, script(tmp_path, app), stdin=follower)
        finally:
            os.close(follower)
            os.close(leader)
        assert result.returncode == 0, result.stderr
        assert "Allow? [y]es once / [a]ll act steps of this task / [N]o" in result.stderr
        assert "-> executed" in result.stdout and "done: clicked" in result.stdout
        assert app.state()["clicks"] == 1
    task, steps = logged(tmp_path)
    assert task.ending == "done" and [s.outcome for s in steps] == ["executed", "done"]
