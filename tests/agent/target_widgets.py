"""The widgets of the test target window (target_app.py runs them): what the executor clicks,
types into, scrolls and drags, and how the window reports its state and where its widgets lie.

Rectangles are reported in X11 desktop pixels: the window's origin comes from the X server
(XTranslateCoordinates of its native window), each widget's offset inside it is Qt's logical offset
times the device pixel ratio, so the numbers hold with or without QT_SCALE_FACTOR and a window
manager. Drag and drop is Qt's own (QDrag with text/plain), as a real app's would be.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import Xlib.display
from PySide6.QtCore import QMimeData, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class DragSource(QLabel):
    def __init__(self, payload: str) -> None:
        super().__init__(f"Drag me ({payload})")
        self.payload = payload
        self.pressed_at: QPoint | None = None
        self.setFrameShape(QLabel.Shape.Box)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton:
            self.pressed_at = event.position().toPoint()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self.pressed_at is None or not event.buttons() & Qt.MouseButton.LeftButton:
            return
        if (event.position().toPoint() - self.pressed_at).manhattanLength() < QApplication.startDragDistance():
            return
        self.pressed_at = None
        mime = QMimeData()
        mime.setText(self.payload)
        drag = QDrag(self)
        drag.setMimeData(mime)
        drag.exec(Qt.DropAction.CopyAction)


class DropTarget(QLabel):
    def __init__(self) -> None:
        super().__init__("Drop here")
        self.dropped = ""
        self.setAcceptDrops(True)
        self.setFrameShape(QLabel.Shape.Box)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasText():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasText():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.dropped = event.mimeData().text()
        self.setText(f"Dropped: {self.dropped}")
        event.acceptProposedAction()


class Target(QWidget):
    sig_command = Signal(str)
    """One line read from stdin, handled on the UI thread."""

    def __init__(self, *, banner: str, title: str, payload: str, rows: int, size: tuple[int, int]) -> None:
        super().__init__()
        self.setWindowTitle(title)
        self.setFixedSize(*size)
        self.clicks = 0
        self._build(banner, payload, rows)
        self.sig_command.connect(self._on_command)

    def _build(self, banner_text: str, payload: str, rows: int) -> None:
        self.banner = self._named(QLabel(banner_text), "banner")
        self.banner.setWordWrap(True)
        self.banner.setVisible(bool(banner_text))
        self.text = self._named(QLineEdit(), "text")
        self.password = self._named(QLineEdit(), "password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.checkbox = self._named(QCheckBox("Remember me"), "checkbox")
        self.button = self._named(QPushButton("Count"), "button")
        self.button.clicked.connect(self._count)
        self.source = self._named(DragSource(payload), "source")
        self.target = self._named(DropTarget(), "target")
        self.list = self._named(QListWidget(), "list")
        self.list.addItems([f"row {i:03d} " + "wide " * 12 for i in range(rows)])
        left = QVBoxLayout()
        for widget in (self.text, self.password, self.button, self.source, self.target):
            left.addWidget(widget)
        left.insertWidget(2, self.checkbox, alignment=Qt.AlignmentFlag.AlignLeft)  # only its box and label click
        columns = QHBoxLayout()
        columns.addLayout(left, 1)
        columns.addWidget(self.list, 1)
        outer = QVBoxLayout(self)
        outer.addWidget(self.banner)
        outer.addLayout(columns)

    def _named(self, widget, name: str):
        widget.setObjectName(name)
        return widget

    def _count(self) -> None:
        self.clicks += 1

    def place(self, at: tuple[int, int]) -> None:
        """Put the window's top-left at desktop pixel `at` (Qt's logical position of that pixel)."""
        x, y = at
        for screen in QApplication.screens():
            g, ratio = screen.geometry(), screen.devicePixelRatio()
            if g.x() <= x < g.x() + g.width() * ratio and g.y() <= y < g.y() + g.height() * ratio:
                self.move(round(g.x() + (x - g.x()) / ratio), round(g.y() + (y - g.y()) / ratio))
                return
        raise SystemExit(f"{at} is on no screen")

    def show_when_ready(self, ready: Callable[[], None]) -> None:
        """Show, then call `ready` once the window is exposed and holds the keyboard focus."""
        self.show()
        timer = QTimer(self)

        def poll() -> None:
            handle = self.windowHandle()
            if handle is None or not handle.isExposed():
                return
            if not self.isActiveWindow():
                self.raise_()
                self.activateWindow()
                return
            timer.stop()
            ready()

        timer.timeout.connect(poll)
        timer.start(20)

    def state(self) -> dict:
        focused = QApplication.focusWidget()
        return {
            "text": self.text.text(),
            "password": self.password.text(),
            "checked": self.checkbox.isChecked(),
            "clicks": self.clicks,
            "list_scroll": self.list.verticalScrollBar().value(),
            "list_hscroll": self.list.horizontalScrollBar().value(),
            "dropped": self.target.dropped,
            "focus": focused.objectName() if focused is not None else None,
            "active": self.isActiveWindow(),
            "banner": self.banner.text() if self.banner.isVisible() else "",
        }

    def geometry_report(self) -> dict:
        """Each widget's (left, top, width, height) in X11 desktop pixels (None if hidden), and the
        scale used."""
        ratio = self.devicePixelRatioF()
        ox, oy = native_origin(int(self.winId()))
        rects = {}
        for name in WIDGETS_REPORTED:
            widget = self if name == "window" else getattr(self, name)
            if not widget.isVisible():
                rects[name] = None
                continue
            at = widget.mapTo(self, QPoint(0, 0))
            rects[name] = [ox + round(at.x() * ratio), oy + round(at.y() * ratio),
                           round(widget.width() * ratio), round(widget.height() * ratio)]
        return {"rects": rects, "scale": ratio, "title": self.windowTitle()}

    def reset(self) -> None:
        self.text.clear()
        self.password.clear()
        self.checkbox.setChecked(False)
        self.clicks = 0
        self.list.verticalScrollBar().setValue(0)
        self.list.horizontalScrollBar().setValue(0)
        self.target.dropped = ""
        self.target.setText("Drop here")
        focused = QApplication.focusWidget()
        if focused is not None:
            focused.clearFocus()
        self.raise_()
        self.activateWindow()

    def _on_command(self, line: str) -> None:
        verb, _, rest = line.partition(" ")
        if verb == "quit":
            QApplication.quit()
            return
        if verb == "state":
            reply = self.state()
        elif verb == "geometry":
            reply = self.geometry_report()
        elif verb == "reset":
            self.reset()
            reply = {"ok": True}
        elif verb == "focus" and rest in WIDGETS_REPORTED[1:]:
            getattr(self, rest).setFocus()
            reply = {"ok": True}
        else:
            reply = {"error": f"unknown command {line!r}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


WIDGETS_REPORTED = ("window", "banner", "text", "password", "checkbox", "button", "list", "source", "target")


def native_origin(window_id: int) -> tuple[int, int]:
    """Where X11 window `window_id`'s top-left lies on the root window, in device pixels."""
    display = Xlib.display.Display()
    try:
        window = display.create_resource_object("window", window_id)
        origin = display.screen().root.translate_coords(window, 0, 0)
        return origin.x, origin.y
    finally:
        display.close()
