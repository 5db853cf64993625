"""Where our own windows are on the desktop, for the agent: never in the model's view, never a target.

The agent asks from the engine worker's thread, where no widget may be touched, so the rectangles
are computed on the UI thread whenever one of our top-level windows (the main window, a dialog, a
menu) shows, hides, moves or resizes, and kept as an immutable tuple: reading it from any thread
is one attribute load. Qt reports logical coordinates; the capture and the input speak X11 desktop
pixels. Qt keeps each screen's origin unscaled and scales distances from it by the screen's
device-pixel ratio, so a point maps to `origin + (logical - origin) * ratio` (logical × ratio on a
screen at 0, 0). Rectangles are widened to whole pixels, never narrowed.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QWidget

Rect = tuple[int, int, int, int]  # left, top, width, height in desktop pixels
WATCHED = (QEvent.Type.Show, QEvent.Type.Hide, QEvent.Type.Move, QEvent.Type.Resize, QEvent.Type.WindowStateChange)


def to_desktop(rect: tuple[float, float, float, float], origin: tuple[float, float], ratio: float) -> Rect:
    """A logical (left, top, width, height) on a screen whose logical origin is `origin`, in desktop
    pixels: scaled about the origin, widened to whole pixels."""
    left = origin[0] + (rect[0] - origin[0]) * ratio
    top = origin[1] + (rect[1] - origin[1]) * ratio
    right, bottom = left + rect[2] * ratio, top + rect[3] * ratio
    x, y = math.floor(left), math.floor(top)
    return x, y, math.ceil(right) - x, math.ceil(bottom) - y


def window_rect(widget: QWidget) -> Rect:
    """`widget`'s frame (title bar and borders included) in desktop pixels."""
    frame, screen = widget.frameGeometry(), widget.screen()
    origin = screen.geometry().topLeft()
    return to_desktop(
        (frame.x(), frame.y(), frame.width(), frame.height()), (origin.x(), origin.y()), screen.devicePixelRatio()
    )


class OwnWindows(QObject):
    """Call it from any thread: the rectangles of our visible top-level windows, as last computed."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rects: tuple[Rect, ...] = ()
        self._watching = False
        self._later = QTimer(self, singleShot=True, interval=0, timeout=self.refresh)

    def __call__(self) -> tuple[Rect, ...]:
        return self._rects

    def start(self) -> None:
        """Follow our windows (the UI thread), starting with where they are now."""
        if not self._watching:
            QApplication.instance().installEventFilter(self)
            self._watching = True
        self.refresh()

    def stop(self) -> None:
        if self._watching:
            QApplication.instance().removeEventFilter(self)
            self._watching = False

    def refresh(self) -> None:
        shown = [w for w in QApplication.topLevelWidgets() if w.isVisible() and not w.isMinimized()]
        self._rects = tuple(window_rect(w) for w in shown)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() in WATCHED and isinstance(watched, QWidget) and watched.isWindow():
            self.refresh()
            self._later.start()  # again once the event is through: a window being shown is not yet visible
        return False
