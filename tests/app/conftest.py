"""App tests run offscreen against real widgets, a real SQLite store and a fake engine.

QT_QPA_PLATFORM is set before Qt is imported (pytest-qt creates the QApplication lazily).
`make_window` builds a MainWindow over a temporary history with a given fake engine (or none, or
an engine maker that is called with the settings on every load),
and closes every window it made at the end, so worker threads are always stopped and waited on.
"""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from core.history import HistoryStore  # noqa: E402
from core.settings import Settings  # noqa: E402

from tests.app.fake_engine import FakeEngine  # noqa: E402


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return Settings(model_dir=str(tmp_path / "model"), data_dir=str(tmp_path / "data"))


@pytest.fixture
def make_window(qtbot, settings):
    from app.main_window import MainWindow

    made, stores = [], []

    def make(engine: FakeEngine | None = None, *, settings=settings, wait_ready: bool = True, make_engine=None):
        store = HistoryStore(settings.history_path())
        stores.append(store)
        window = MainWindow(settings, store, make_engine=make_engine or (lambda s: engine or FakeEngine()))
        qtbot.addWidget(window)
        window.show()
        made.append(window)
        if wait_ready and settings.model_dir:
            qtbot.waitUntil(lambda: window.status.state == "ready", timeout=5000)
        return window

    yield make
    for w in made:
        w.close()
    for s in stores:
        s.close()
