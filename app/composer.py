"""Where the user writes: a multi-line editor, attachment chips, Send and Stop.

Enter sends and Shift+Enter breaks the line. Pasting an image or dropping files onto the editor
becomes an attachment request (`sig_files`, `sig_image`) instead of text; the window routes drops
anywhere else to the same signals. Each attachment is a chip with its thumbnail, page or frame
count and token estimate, and a × to remove it. While its file is ingested a chip shows the
progress ("page 3 of 60" and a bar); its × then also cancels the reading.
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QImage, QKeyEvent, QPixmap
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QPushButton, QToolButton,
                               QVBoxLayout, QWidget)

from core.ingest import IngestProgress

from app.attachments import Attachment, label
from app.images import from_png


def local_files(mime: QMimeData) -> list[str]:
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []


class MessageEdit(QPlainTextEdit):
    sig_submit = Signal()
    """Enter was pressed (without Shift)."""
    sig_files = Signal(list)
    """list[str]: files pasted or dropped on the editor."""
    sig_image = Signal(QImage)
    """An image pasted from the clipboard."""

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.sig_submit.emit()
            return
        if enter:
            self.insertPlainText("\n")
            return
        super().keyPressEvent(event)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:  # noqa: N802 - Qt override
        return source.hasImage() or bool(local_files(source)) or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802 - Qt override
        if files := local_files(source):
            self.sig_files.emit(files)
        elif source.hasImage():
            self.sig_image.emit(QImage(source.imageData()))
        else:
            super().insertFromMimeData(source)


class Chip(QWidget):
    sig_remove = Signal()
    """The user clicked × on this chip (while the file is read, that also stops the reading)."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chip")
        self.setStyleSheet("#chip { background:#eef2ff; border-radius:6px; }")
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 2, 2)
        self.name = name
        self.thumb, self.text = QLabel(), QLabel(f"{name} · reading…")
        self.bar = QProgressBar(maximumWidth=90, maximumHeight=14, textVisible=True, visible=False)
        self.close_button = QToolButton(text="×", autoRaise=True)
        self.close_button.setToolTip("Stop reading and remove this attachment")
        self.close_button.clicked.connect(self.sig_remove.emit)
        for w in (self.thumb, self.text, self.bar, self.close_button):
            row.addWidget(w)

    def show_progress(self, progress: IngestProgress) -> None:
        """One more page or frame was read: "name · page 3 of 60" and a bar at its percentage."""
        self.text.setText(f"{self.name} · {progress.what}")
        self.bar.setRange(0, max(1, progress.total))
        self.bar.setValue(progress.done)
        self.bar.setVisible(True)

    def show_attachment(self, att: Attachment) -> None:
        self.bar.setVisible(False)
        self.close_button.setToolTip("Remove this attachment")
        self.text.setText(label(att))
        omitted = f"\nLeft out: {'; '.join(att.omitted)}" if att.omitted else ""
        self.setToolTip(f"{att.summary}{omitted}")
        if att.thumbnail:
            self.thumb.setPixmap(QPixmap.fromImage(from_png(att.thumbnail)).scaledToHeight(
                40, Qt.TransformationMode.SmoothTransformation))


class Composer(QWidget):
    sig_send = Signal(str)
    """The text to send with the current attachments (Enter or the Send button)."""
    sig_stop = Signal()
    """The user asked to stop the reply being generated."""
    sig_files = Signal(list)
    """list[str]: files to attach."""
    sig_image = Signal(QImage)
    """An image to attach (pasted)."""
    sig_removed = Signal(int)
    """The chip with this key was removed by the user."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = MessageEdit(placeholderText="Ask about your files… (Enter sends, Shift+Enter for a new line)")
        self.edit.setMaximumHeight(110)
        self.send_button, self.stop_button = QPushButton("Send"), QPushButton("Stop")
        self.stop_button.setVisible(False)
        self.screenshot_button = QToolButton(text="Screenshot")
        self.screenshot_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.chips_row = QHBoxLayout()
        self.chips_row.addStretch(1)
        self.chips: dict[int, Chip] = {}
        buttons = QVBoxLayout()
        for b in (self.send_button, self.stop_button, self.screenshot_button):
            buttons.addWidget(b)
        line = QHBoxLayout()
        line.addWidget(self.edit, 1)
        line.addLayout(buttons)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(self.chips_row)
        column.addLayout(line)
        self.edit.sig_submit.connect(self.submit)
        self.send_button.clicked.connect(self.submit)
        self.stop_button.clicked.connect(self.sig_stop.emit)
        self.edit.sig_files.connect(self.sig_files.emit)
        self.edit.sig_image.connect(self.sig_image.emit)

    def submit(self) -> None:
        text = self.edit.toPlainText().strip()
        if (text or self.chips) and self.send_button.isEnabled():
            self.sig_send.emit(text)

    def clear(self) -> None:
        self.edit.clear()
        for key in list(self.chips):
            self.drop_chip(key)

    def set_generating(self, generating: bool) -> None:
        self.send_button.setVisible(not generating)
        self.stop_button.setVisible(generating)
        self.send_button.setEnabled(not generating)

    def add_chip(self, key: int, name: str) -> Chip:
        """A chip for attachment `key`, showing "name · reading…" until its attachment is shown."""
        chip = Chip(name, self)
        chip.sig_remove.connect(lambda: (self.drop_chip(key), self.sig_removed.emit(key)))
        self.chips[key] = chip
        self.chips_row.insertWidget(self.chips_row.count() - 1, chip)
        return chip

    def drop_chip(self, key: int) -> None:
        chip = self.chips.pop(key, None)
        if chip is not None:
            chip.setParent(None)
            chip.deleteLater()
