"""Run in a child process with torch and triton unimportable: start the window on the example
engine (tests/echo_engine.py), attach a PDF and an image, chat, and print what happened as JSON.
tests/app/test_torchless.py reads it. Polls with a deadline on the Qt event loop (no sleeps)."""

import json
import sys
import tempfile
import time
from pathlib import Path

sys.modules["torch"] = None  # type: ignore[assignment]  # any `import torch` now raises ImportError
sys.modules["triton"] = None  # type: ignore[assignment]

from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from core.history import HistoryStore  # noqa: E402
from core.settings import Settings  # noqa: E402

import tests.echo_engine  # noqa: E402, F401  (registers the echo backend)
from tests.app.files import make_image, make_pdf  # noqa: E402


def wait_for(condition, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        QTest.qWait(20)
    return True


def main() -> None:
    from app.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "m.echo").write_text("")
        settings = Settings(model_dir=str(folder / "m.echo"), data_dir=str(folder / "data"))
        with HistoryStore(settings.history_path()) as store:
            window = MainWindow(settings, store)
            window.show()
            ready = wait_for(lambda: window.status.state == "ready")
            window.attach_files([str(make_pdf(folder / "paper.pdf")), str(make_image(folder / "photo.png"))])
            attached = wait_for(lambda: len(window.pending) == 2 and all(window.pending.values()))
            window.composer.edit.setPlainText("what do they say?")
            window.send(window.composer.edit.toPlainText())
            replied = wait_for(lambda: not window.session.generating)
            messages = store.messages(store.conversations()[0].id) if store.conversations() else []
            window.close()
    print(json.dumps({"ready": ready, "attached": attached, "replied": replied,
                      "reply": messages[-1].text if messages else None,
                      "attachments": [a.kind for a in messages[0].attachments] if messages else [],
                      "torch_loaded": sys.modules.get("torch") is not None}))


if __name__ == "__main__":
    main()
