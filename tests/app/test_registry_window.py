"""The window builds its engine through the registry (core.engine.open_engine), so a backend
added in one module (tests/echo_engine.py) is loaded and answers with no change to the app."""

from core.history import HistoryStore
from core.settings import Settings

from tests.app.test_window import send, wait_reply
from tests.echo_engine import ECHO


def test_the_window_reaches_an_added_backend_through_the_registry(qtbot, tmp_path, monkeypatch):
    from app.main_window import MainWindow

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    model = tmp_path / "parrot.echo"
    model.write_text("")
    settings = Settings(model_dir=str(model), data_dir=str(tmp_path / "data"))
    assert ECHO.name == "echo"
    with HistoryStore(settings.history_path()) as store:
        window = MainWindow(settings, store)  # the default engine maker: the registry
        qtbot.addWidget(window)
        try:
            qtbot.waitUntil(lambda: window.status.state == "ready", timeout=10000)
            assert window.info is not None and window.info.backend == "echo"
            send(qtbot, window, "hello window")
            wait_reply(qtbot, window)
            assert store.messages(store.conversations()[0].id)[-1].text == "echo: hello window"
            d = window.open_settings()
            assert "echo" in [d.backend.itemData(i) for i in range(d.backend.count())]
            d.reject()
        finally:
            window.close()
