"""Run by test_screenshots.py in a child process on the xcb platform (one pytest process cannot
mix Qt platforms): a real window on a real X server takes screenshots through its own menu, and
what happened is printed as one JSON object for the test to judge.

For each menu entry it records whether the window was visible when `capture_screen` ran, the
capture's size, how much of the window's rectangle in a whole-desktop capture is bare desktop
background, the chip's image size, and whether the window is visible again afterwards. The
region entry also drags a rubber band on the overlay with QTest.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from core import desktop
from core.history import HistoryStore
from core.settings import Settings

BACKGROUND = (32, 64, 96)
DRAG = ((300, 200), (470, 290))  # press and release points on the overlay


def wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        QTest.qWait(20)
    return True


def watch_captures(window, calls: list) -> None:
    real = desktop.capture_screen

    def capture(**kwargs):
        shot = real(**kwargs)
        g = window.geometry()
        under = shot.pixels[g.y():g.y() + g.height(), g.x():g.x() + g.width()]
        calls.append({"visible": window.isVisible(), "kwargs": {k: v for k, v in kwargs.items() if v is not None},
                      "size": list(shot.pixels.shape[:2]), "window_rect": list(g.getRect()),
                      "bare": float((under == BACKGROUND).all(axis=-1).mean()) if shot.pixels.shape[1] > 2000 else None})
        return shot

    desktop.capture_screen = capture


def run_entry(window, action, calls: list) -> dict:
    before, count = set(window.pending), len(calls)
    action.trigger()
    result = {"entry": action.text(), "hidden_at_once": not window.isVisible()}
    if action.text().startswith("Region"):
        result |= drag_region(window)
    wait_for(lambda: set(window.pending) - before and window.isVisible())
    (key,) = set(window.pending) - before or {None}
    att = window.pending.get(key)
    result |= {"captures": calls[count:], "visible_after": window.isVisible(),
               "chip": None if att is None else {"file_size": list(Image.open(att.path).size), "kind": att.kind,
                                                 "label": window.composer.chips[key].text.text(),
                                                 "geometry": list(att.parts[0].source.geometry.__dict__.values())}}
    return result


def drag_region(window) -> dict:
    wait_for(lambda: getattr(window, "picker", None) is not None and window.picker.isVisible())
    picker = window.picker
    QTest.qWaitForWindowExposed(picker)
    (x0, y0), (x1, y1) = DRAG
    QTest.mousePress(picker, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(x0, y0))
    QTest.mouseMove(picker, QPoint(x1, y1))
    band = picker.band.geometry()
    seen = {"overlay_visible": picker.isVisible(), "overlay_rect": list(picker.geometry().getRect()),
            "window_visible_under_overlay": window.isVisible(), "band_visible": picker.band.isVisible(),
            "band": [band.x(), band.y(), band.width(), band.height()]}
    QTest.mouseRelease(picker, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(x1, y1))
    return seen | {"overlay_closed": not picker.isVisible()}


def main() -> None:
    app = QApplication(sys.argv[:1])
    from app.main_window import MainWindow

    with tempfile.TemporaryDirectory() as data, HistoryStore(Settings(data_dir=data).history_path()) as store:
        window = MainWindow(Settings(data_dir=data), store)
        window.setGeometry(200, 150, 900, 600)
        window.show()
        QTest.qWaitForWindowExposed(window)
        QTest.qWait(300)
        calls: list = []
        watch_captures(window, calls)
        entries = [run_entry(window, a, calls) for a in window.composer.screenshot_button.menu().actions()]
        print(json.dumps({"platform": app.platformName(), "entries": entries}))
        window.close()


if __name__ == "__main__":
    main()
