"""Starting the app over hostile files: a damaged, foreign or folder history and an unusable
settings file. The real MainWindow opens (offscreen), a non-blocking warning says what happened
and where the damaged file went, nothing is deleted or overwritten, and recovery from the window
brings back what SQLite can still read. The whole entry point (`python -m app` in a child
process, quitting once its event loop runs) is checked to start and exit 0 rather than crash.
"""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.application import start_window
from core.settings import Settings

from tests.app.fake_engine import FakeEngine
from tests.core.test_history_recovery import DAMAGE, real_store, truncated

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # where the window saves settings
    return {"XDG_CONFIG_HOME": str(tmp_path / "config"), "SPYGLASS_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def start(qtbot, env):
    windows = []

    def make():
        window = start_window({}, env=env, make_engine=lambda s: FakeEngine())
        qtbot.addWidget(window)
        windows.append(window)
        return window

    yield make
    for w in windows:
        w.close()
        w.store.close()


def history(tmp_path) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    return tmp_path / "data" / "history.sqlite3"


@pytest.mark.parametrize("damage", DAMAGE, ids=[d.__name__ for d in DAMAGE])
def test_a_damaged_history_opens_the_window_and_says_where_the_file_went(start, tmp_path, damage):
    path = history(tmp_path)
    real_store(path, conversations=60)
    damage(path, random.Random(damage.__name__))
    before = path.read_bytes()
    window = start()
    report = window.startup_report
    assert window.isVisible() and report.box.isVisible()
    (aside,) = [p for p in path.parent.iterdir()
                if p.name.startswith("history.sqlite3.damaged-") and not p.name.endswith(("-wal", "-shm"))]
    assert aside.read_bytes() == before and report.damaged == aside
    text = report.box.text()
    assert "could not be read" in text and str(aside) in text and "nothing was deleted" in text
    assert report.recover_button is not None and report.recover_button.isVisible()
    assert window.store.path == path and window.store.conversations() == []


def test_recovering_from_the_window_brings_back_the_readable_conversations(start, tmp_path, qtbot):
    path = history(tmp_path)
    made = real_store(path)
    truncated(path, random.Random(0))
    window = start()
    report = window.startup_report
    with qtbot.waitSignal(report.sig_recovered, timeout=30000) as got:
        qtbot.mouseClick(report.recover_button, Qt.MouseButton.LeftButton)
    restored = got.args[0]
    titles = {c.title for c in window.store.conversations()}
    assert restored.messages >= len(made) and len(titles & {v[0] for v in made.values()}) >= len(made) // 2
    assert window.conversations.items.count() == len(titles)
    assert "Recovered" in window.statusBar().currentMessage() and str(report.damaged) in window.statusBar().currentMessage()


def test_a_folder_at_the_history_path_opens_the_window_with_history_beside_it(start, tmp_path):
    path = history(tmp_path)
    path.mkdir()
    window = start()
    assert window.isVisible() and path.is_dir()
    assert window.store.path == path.with_name("history-2.sqlite3")
    text = window.startup_report.box.text()
    assert f"{path} is a folder" in text and str(window.store.path) in text
    assert window.startup_report.recover_button is None


BAD_SETTINGS = {
    "nested": ("[" * 100_000 + "]" * 100_000).encode(),
    "not-utf8": b'{"system_prompt": "caf\xe9"}',
    "nan": b'{"temperature": NaN}',
    "list": b'{"model_dir": ["a", "b"]}',
    "potato": b'{"msa": {"device": "potato"}}',
}


@pytest.mark.parametrize("content", BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
def test_a_bad_settings_file_is_reported_the_app_runs_on_defaults_and_the_file_is_untouched(
    start, tmp_path, qtbot, content
):
    path = tmp_path / "config" / "spyglass" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    window = start()
    assert window.isVisible()
    assert window.settings == Settings(data_dir=str(tmp_path / "data"))
    text = window.startup_report.box.text()
    assert f"settings file {path}" in text and "default settings" in text and "left the file as it is" in text
    assert path.read_bytes() == content
    d = window.open_settings()  # a save later keeps the unreadable file under another name
    d.max_tokens.setValue(77)
    d.accept()
    (kept,) = [p for p in path.parent.iterdir() if p.name.startswith("settings.json.unreadable-")]
    assert kept.read_bytes() == content and json.loads(path.read_text()) == {"max_tokens": 77}
    assert str(kept) in window.statusBar().currentMessage()


def test_a_folder_at_the_settings_path_is_reported_and_left(start, tmp_path):
    path = tmp_path / "config" / "spyglass" / "settings.json"
    path.mkdir(parents=True)
    window = start()
    assert "is a folder" in window.startup_report.box.text() and path.is_dir()


def test_a_bad_environment_variable_still_stops_the_start(env, tmp_path):
    with pytest.raises(ValueError, match="SPYGLASS_TEMPERATURE: setting temperature = nan is not allowed"):
        start_window({}, env={**env, "SPYGLASS_TEMPERATURE": "nan"}, make_engine=lambda s: FakeEngine())


CHILD = r"""
import argparse, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from app.application import run_app

app = QApplication(sys.argv[:1])

def report():
    for w in QApplication.topLevelWidgets():
        if w.isVisible():
            print("window:", w.windowTitle(), flush=True)
            if isinstance(w, QMessageBox):
                print("message:", w.text(), flush=True)
    app.quit()

QTimer.singleShot(0, report)  # runs once the event loop is up, i.e. after run_app opened the window
sys.exit(run_app(argparse.Namespace(app_model=None, app_device=None, app_context=None, app_data_dir=sys.argv[1])))
"""


@pytest.mark.parametrize("case", ["random-bytes", "folder", "bad-settings"])
def test_the_real_entry_point_starts_and_exits_cleanly(tmp_path, case):
    data = tmp_path / "data"
    data.mkdir()
    config = tmp_path / "config" / "spyglass"
    config.mkdir(parents=True)
    if case == "random-bytes":
        (data / "history.sqlite3").write_bytes(random.Random(0).randbytes(20_000))
    elif case == "folder":
        (data / "history.sqlite3").mkdir()
    else:
        (config / "settings.json").write_text('{"temperature": -3}')
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen",
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "xdg-data")}
    env = {k: v for k, v in env.items() if not k.startswith("SPYGLASS_")}
    done = subprocess.run([sys.executable, "-c", CHILD, str(data)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "window: Spyglass" in done.stdout and "window: Spyglass started with a problem" in done.stdout
    expected = {"random-bytes": "moved to", "folder": "is a folder", "bad-settings": "setting temperature = -3"}
    assert expected[case] in done.stdout
