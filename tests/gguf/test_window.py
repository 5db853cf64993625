"""The window on a real GGUF file: the registry picks llama.cpp, the reply streams into the
history; a dropped image is left out and the person told when the model has no projector, and
reaches the model (its chip priced by llama.cpp's own count) when it has one."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from core.history import HistoryStore  # noqa: E402
from core.settings import Settings  # noqa: E402
from tests.app.files import make_image  # noqa: E402
from tests.app.test_window import drop, send, wait_reply  # noqa: E402


def test_the_window_chats_through_a_gguf_file(qtbot, tmp_path, monkeypatch, m3_gguf):
    from app.main_window import MainWindow

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    settings = Settings(model_dir=str(m3_gguf), data_dir=str(tmp_path / "data"), max_tokens=6, temperature=0.0,
                        context_tokens=1024)
    with HistoryStore(settings.history_path()) as store:
        window = MainWindow(settings, store)
        qtbot.addWidget(window)
        try:
            qtbot.waitUntil(lambda: window.status.state == "ready", timeout=60000)
            assert window.info.backend == "gguf" and window.info.media is None
            drop(window, make_image(tmp_path / "photo.png"))
            qtbot.waitUntil(lambda: bool(window.pending) and all(window.pending.values()), timeout=10000)
            send(qtbot, window, "what is in the picture?")
            wait_reply(qtbot, window, timeout=60000)
            user, reply = store.messages(store.conversations()[0].id)
            assert reply.status == "done" and reply.error is None
            assert [a.kind for a in user.attachments] == ["image"]  # kept in the history all the same
            assert "image left out (the model reads no images or videos)" in window.statusBar().currentMessage()
        finally:
            window.close()


def test_the_window_shows_an_image_to_a_gguf_model_with_a_projector(qtbot, tmp_path, monkeypatch, m3_vision_gguf):
    from app.main_window import MainWindow

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    settings = Settings(model_dir=str(m3_vision_gguf.parent), data_dir=str(tmp_path / "data"), max_tokens=6,
                        temperature=0.0, context_tokens=2048)
    with HistoryStore(settings.history_path()) as store:
        window = MainWindow(settings, store)
        qtbot.addWidget(window)
        try:
            qtbot.waitUntil(lambda: window.status.state == "ready", timeout=60000)
            assert window.info.backend == "gguf" and window.info.media is not None
            drop(window, make_image(tmp_path / "photo.png"))
            qtbot.waitUntil(lambda: bool(window.pending) and all(window.pending.values()), timeout=10000)
            (chip,) = window.pending.values()
            assert chip.tokens == window.info.media.image_tokens(200, 320)  # make_image is 320 x 200
            send(qtbot, window, "what is in the picture?")
            wait_reply(qtbot, window, timeout=60000)
            user, reply = store.messages(store.conversations()[0].id)
            assert reply.status == "done" and reply.error is None and reply.text
            assert [a.kind for a in user.attachments] == ["image"]
            assert "left out" not in window.statusBar().currentMessage()
        finally:
            window.close()
