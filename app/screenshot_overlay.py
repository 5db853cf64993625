"""Picking a screen region: a frameless full-desktop overlay over a frozen screenshot.

The desktop is captured first (our window already hidden), shown dimmed across the virtual
desktop, and the user drags a rubber band; Escape cancels. The chosen rectangle is cut out of
that same capture, so what is attached is exactly what was on screen when the overlay opened.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPixmap
from PySide6.QtWidgets import QRubberBand, QWidget

from core.messages import ImagePart, ScreenGeometry, Source

from app.images import to_qimage


def crop(shot: ImagePart, rect: QRect) -> ImagePart:
    """The part of a desktop capture under `rect` (overlay coordinates = logical desktop offsets)."""
    g = shot.source.geometry
    s = g.scale if g else 1.0
    x0, y0 = int(rect.x() * s), int(rect.y() * s)
    x1, y1 = int((rect.x() + rect.width()) * s), int((rect.y() + rect.height()) * s)
    pixels = np.ascontiguousarray(shot.pixels[y0:y1, x0:x1])
    left, top = (g.left, g.top) if g else (0, 0)
    geometry = ScreenGeometry(left + rect.x(), top + rect.y(), rect.width(), rect.height(), s, g.monitor if g else 0)
    return ImagePart(pixels, Source("screenshot", geometry=geometry))


def spanned(a: QPoint, b: QPoint) -> QRect:
    """The rectangle dragged from `a` to `b`: a drag 170 px right is 170 px wide (QRect(a, b) would
    count both end pixels and make it 171)."""
    return QRect(min(a.x(), b.x()), min(a.y(), b.y()), abs(b.x() - a.x()), abs(b.y() - a.y()))


class RegionPicker(QWidget):
    sig_picked = Signal(object)
    """ImagePart: the region the user selected, cut from the capture."""
    sig_cancelled = Signal()
    """The user pressed Escape or picked an empty region."""

    def __init__(self, shot: ImagePart) -> None:
        super().__init__(None, Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint
                         | Qt.WindowType.Tool)
        self.shot = shot
        self.background = QPixmap.fromImage(to_qimage(shot.pixels))
        g = shot.source.geometry
        if g is not None:
            self.setGeometry(g.left, g.top, g.width, g.height)
        self.band = QRubberBand(QRubberBand.Shape.Rectangle, self)
        self.origin = QPoint()
        self.setCursor(Qt.CursorShape.CrossCursor)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.drawPixmap(self.rect(), self.background)
        painter.fillRect(self.rect(), QColor(0, 0, 0, 90))
        painter.setPen(QColor("white"))
        painter.drawText(20, 30, "Drag to pick a region · Esc cancels")

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self.origin = event.position().toPoint()
        self.band.setGeometry(QRect(self.origin, QSize()))
        self.band.show()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self.band.setGeometry(spanned(self.origin, event.position().toPoint()))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self.finish(spanned(self.origin, event.position().toPoint()))

    def finish(self, rect: QRect) -> None:
        self.close()
        rect = rect.intersected(self.rect())
        if rect.width() < 4 or rect.height() < 4:
            self.sig_cancelled.emit()
        else:
            self.sig_picked.emit(crop(self.shot, rect))

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Escape:
            self.close()
            self.sig_cancelled.emit()
