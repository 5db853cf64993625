"""The settings dialog's remote server rows on a real window against a real local HTTP server
(tests/remote/scripted.py, requiring a bearer key): Test connection lists the models without
blocking (or shows the error), Save stores the key through core/secrets (never settings.json),
and the window then loads the remote engine and answers through it."""

import json
import stat

import pytest
from PySide6.QtCore import Qt

from core.engine import open_engine
from core.secrets import secret_file
from core.settings import API_KEY_VARIABLE, Settings, settings_path

from tests.app.test_settings import save
from tests.app.test_window import send, wait_reply
from tests.remote.scripted import MODEL, ThreadServer, free_port

KEY = "sk-dialog-9f8e7d6c5b4a"


@pytest.fixture
def server(monkeypatch):
    monkeypatch.delenv(API_KEY_VARIABLE, raising=False)
    s = ThreadServer()
    s.scripts.key = KEY
    yield s
    s.stop()


def test_connection_then_save_stores_the_key_privately_and_the_window_answers(make_window, qtbot, server, tmp_path):
    window = make_window(settings=Settings(data_dir=str(tmp_path / "d")), make_engine=open_engine)
    assert window.status.state == "none"
    d = window.open_settings()
    url = server.url("hello")
    d.remote_url.setText(url)
    d.api_key.setText("sk-wrong")
    qtbot.mouseClick(d.test_button, Qt.MouseButton.LeftButton)
    assert not d.test_button.isEnabled() and d.test_result.text() == f"Asking {url} for its models…"  # not waited on
    qtbot.waitUntil(lambda: d.test_button.isEnabled(), timeout=20000)
    assert d.test_result.text() == f"Connection failed: {url} refused the API key (401); set the right one in Settings"
    d.api_key.setText(KEY)
    qtbot.mouseClick(d.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: d.test_button.isEnabled(), timeout=20000)
    assert d.test_result.text() == f"Connected: 1 model: {MODEL}"
    assert [d.remote_model.itemText(i) for i in range(d.remote_model.count())] == [MODEL]
    assert d.remote_model.currentText() == MODEL
    assert d.api_key.echoMode() == d.api_key.EchoMode.Password
    d.backend.setCurrentIndex(d.backend.findData("remote"))
    save(qtbot, d)
    qtbot.waitUntil(lambda: window.status.state == "ready", timeout=20000)
    stored = settings_path().read_text()
    assert json.loads(stored)["remote"] == {"base_url": url, "model": MODEL} and KEY not in stored
    key_file = secret_file(url)
    assert key_file.read_text() == KEY and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert window.info.backend == "remote" and window.info.model == MODEL
    send(qtbot, window, "hi")
    wait_reply(qtbot, window, timeout=20000)
    assert window.store.messages(window.store.conversations()[0].id)[-1].text == "Hello world"
    again = window.open_settings()
    assert again.api_key.text() == KEY and again.remote_url.text() == url  # read back from the key store
    again.reject()


def test_a_server_that_is_not_there_is_an_error_in_the_dialog(make_window, qtbot, tmp_path):
    window = make_window(settings=Settings(data_dir=str(tmp_path / "d")))
    d = window.open_settings()
    url = f"http://127.0.0.1:{free_port()}/v1"
    d.remote_url.setText(url)
    qtbot.mouseClick(d.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: d.test_button.isEnabled(), timeout=20000)
    assert d.test_result.text().startswith(f"Connection failed: {url}: cannot reach the server")
    d.reject()
