"""The Get a model dialog and the first-run links, with real widgets and a loopback file server.

The catalog entry's URLs point at tests/models/server.py on 127.0.0.1; no network is used.
Waiting is on signals and conditions (qtbot), with the server holding a body mid-file where a
test needs the download to be in flight.
"""

from __future__ import annotations

import random

import pytest
from PySide6.QtCore import QUrl

from core.models import CatalogEntry, ModelFile, part_path
from tests.models.server import FileServer

MODEL, PROJECTOR = "tiny.gguf", "mmproj-tiny.gguf"


def blob(size: int, seed: int) -> bytes:
    return b"GGUF" + random.Random(seed).randbytes(size - 4)


@pytest.fixture
def server():
    files = {MODEL: blob(3_000_000, 1), PROJECTOR: blob(1_000_000, 2)}
    with FileServer(files, hold_after=1_500_000) as s:  # the model's first 1 MiB chunk arrives, then it holds
        yield s


def entry_for(server: FileServer, sha256: str | None = None) -> CatalogEntry:
    files = (ModelFile("model", MODEL, server.url(MODEL), len(server.files[MODEL]), sha256),
             ModelFile("projector", PROJECTOR, server.url(PROJECTOR), len(server.files[PROJECTOR]), None))
    return CatalogEntry(id="tiny", name="Tiny VLM", licence="Apache-2.0", licence_url="https://example.org/l",
                        permissive=True, good_at="tests", source="https://example.org/card", files=files)


@pytest.fixture
def make_dialog(qtbot, tmp_path):
    from app.models_dialog import ModelsDialog

    def make(*entries: CatalogEntry) -> ModelsDialog:
        dialog = ModelsDialog(tmp_path / "models", entries)
        qtbot.addWidget(dialog)
        dialog.show()
        return dialog

    return make


def test_the_dialog_lists_the_bundled_catalog(make_dialog):
    from core.models import load_catalog

    dialog = make_dialog(*load_catalog())
    assert dialog.table.rowCount() == len(load_catalog())
    assert "read the terms" in dialog.table.item(dialog.table.rowCount() - 1, 2).text()  # Gemma's terms


def test_download_moves_the_bar_and_emits_the_model_path(qtbot, make_dialog, server, tmp_path):
    dialog = make_dialog(entry_for(server))
    values: list[int] = []
    dialog.progress.valueChanged.connect(values.append)
    with qtbot.waitSignal(dialog.sig_model_chosen, timeout=20000) as chosen:
        dialog.download_button.click()
        assert server.holding.wait(10)
        server.release.set()
    path = tmp_path / "models" / "tiny" / MODEL
    assert chosen.args == [str(path)] and path.read_bytes() == server.files[MODEL]
    assert (path.parent / PROJECTOR).read_bytes() == server.files[PROJECTOR]
    assert len([v for v in values if 0 < v < 1000]) >= 2 and values[-1] == 1000
    assert "Saved in" in dialog.status.text()


def test_pause_keeps_the_part_and_resume_fetches_the_rest(qtbot, make_dialog, server, tmp_path):
    dialog = make_dialog(entry_for(server))
    dialog.download_button.click()
    assert server.holding.wait(10)
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=10000)
    dialog.pause_button.click()
    server.release.set()  # the next chunk arrives, the downloader sees the pause
    qtbot.waitUntil(lambda: dialog.pause_button.text() == "Resume", timeout=10000)
    part = part_path(tmp_path / "models" / "tiny" / MODEL)
    kept = part.stat().st_size
    assert kept >= 1_000_000 and "Paused" in dialog.status.text()
    with qtbot.waitSignal(dialog.sig_model_chosen, timeout=20000):
        dialog.pause_button.click()
    assert server.gets(MODEL)[-1].range == f"bytes={kept}-" and not part.exists()


def test_cancel_removes_the_partial_files(qtbot, make_dialog, server, tmp_path):
    dialog = make_dialog(entry_for(server))
    dialog.download_button.click()
    assert server.holding.wait(10)
    dialog.cancel_button.click()
    server.release.set()
    qtbot.waitUntil(lambda: "cancelled" in dialog.status.text(), timeout=10000)
    assert list((tmp_path / "models" / "tiny").iterdir()) == []


def test_a_wrong_hash_is_shown_in_the_dialog(qtbot, make_dialog, server, tmp_path):
    server.hold_after = None
    dialog = make_dialog(entry_for(server, sha256="0" * 64))
    dialog.download_button.click()
    qtbot.waitUntil(lambda: "not the expected file" in dialog.status.text(), timeout=20000)
    assert "b91c1c" in dialog.status.styleSheet()
    assert not (tmp_path / "models" / "tiny" / MODEL).exists()


def test_opening_a_gguf_file_emits_its_path_and_refuses_others(qtbot, make_dialog, server, tmp_path):
    dialog = make_dialog(entry_for(server))
    good, bad = tmp_path / "mine.gguf", tmp_path / "notes.txt"
    good.write_bytes(b"GGUF" + bytes(16))
    bad.write_text("hello")
    files = dialog.open_gguf_file()
    with qtbot.waitSignal(dialog.sig_model_chosen, timeout=5000) as chosen:
        files.fileSelected.emit(str(good))
    assert chosen.args == [str(good)]
    dialog.open_gguf_file().fileSelected.emit(str(bad))
    assert "not a .gguf file" in dialog.status.text()


def test_the_first_run_links_open_the_dialog_and_the_file_picker(qtbot, make_window, tmp_path, monkeypatch):
    from core.settings import Settings

    window = make_window(settings=Settings(data_dir=str(tmp_path / "data")))
    assert 'href="model:get"' in window._welcome() and 'href="model:open"' in window._welcome()
    window.chat.anchorClicked.emit(QUrl("model:get"))
    qtbot.waitUntil(lambda: window.models_dialog is not None and window.models_dialog.isVisible(), timeout=5000)
    assert window.models_dialog.models_dir == tmp_path / "data" / "models"
    assert window.models_dialog.table.rowCount() > 0
    window.models_dialog.reject()

    window.chat.anchorClicked.emit(QUrl("model:open"))
    qtbot.waitUntil(lambda: window.gguf_dialog.isVisible(), timeout=5000)
    model = tmp_path / "mine.gguf"
    model.write_bytes(b"GGUF" + bytes(16))
    window.gguf_dialog.fileSelected.emit(str(model))
    assert window.settings.model_dir == str(model)
