"""Regenerate docs/screenshot.png: the real window on an X display (run under Xvfb), a fake engine.

    Xvfb :87 -screen 0 1400x900x24 & DISPLAY=:87 PYTHONPATH=. python docs/make_screenshot.py
"""

import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from app.main_window import MainWindow
from core.history import HistoryStore
from core.settings import Settings
from tests.app.fake_engine import FakeEngine
from tests.app.files import make_pdf

REPLY = ("The report makes two points:\n\n1. The **quick brown fox** is introduced on page 1.\n"
         "2. The cat on a mat appears on [p. 2], with a short example:\n\n"
         "```python\ndef where_is_the_cat(report):\n    return report.page(2).find(\"cat\")  # on the mat\n```\n\n"
         "See page 2 for the full sentence.")


def main() -> None:
    app = QApplication(sys.argv[:1])
    tmp = Path(tempfile.mkdtemp())
    settings = Settings(model_dir=str(tmp / "MiniMax-M3"), data_dir=str(tmp / "data"))
    store = HistoryStore(settings.history_path())
    engine = FakeEngine(reply=REPLY, reasoning="The user asks about the report; pages 1 and 2 hold the text.",
                        token_delay=0.01)
    window = MainWindow(settings, store, make_engine=lambda s: engine)
    window.setGeometry(40, 30, 1320, 820)
    window.show()
    pdf = make_pdf(tmp / "report.pdf", pages=("The quick brown fox jumps over the lazy dog.",
                                              "Page two: a cat sits on a mat."))

    def send():
        window.composer.edit.setPlainText("What does this report say, and where?")
        window.composer.submit()

    def attach_next():
        window.attach_files([str(pdf)])
        window.composer.edit.setPlainText("And what about the dog?")

    def shoot():
        image = QGuiApplication.primaryScreen().grabWindow(0).toImage()
        image.save(str(Path(__file__).with_name("screenshot.png")), "PNG")
        window.close()
        app.quit()

    QTimer.singleShot(800, lambda: window.attach_files([str(pdf)]))
    QTimer.singleShot(2500, send)
    QTimer.singleShot(6500, attach_next)
    QTimer.singleShot(8500, shoot)
    app.exec()
    store.close()


if __name__ == "__main__":
    main()
