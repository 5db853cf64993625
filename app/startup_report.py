"""Problems met while starting that need not stop the app, shown in the window once it is open.

A settings file that cannot be used (the app runs on defaults and leaves the file alone) and a
history file that was damaged, foreign or a folder (core.history.recovery moved it aside or kept
the history beside it) are listed in a non-blocking warning and the status bar. When a damaged
history was moved aside, the warning offers to recover it: the old file is read on the task
runner (it may be large) and what it still holds is added to the open store on the UI thread,
which owns the store's connection.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QPushButton

from core.history import Restored, Salvage, read_salvage, restore

if TYPE_CHECKING:
    from app.main_window import MainWindow


class StartupReport(QObject):
    sig_recovered = Signal(object)
    """Restored: what recovery added to the history (counts of conversations, messages, attachments)."""

    def __init__(self, window: MainWindow, notices: list[str], damaged: Path | None = None) -> None:
        super().__init__(window)
        self.window, self.damaged = window, damaged
        self.box: QMessageBox | None = None
        self.recover_button: QPushButton | None = None
        self.recovered: Restored | None = None
        if notices:
            self._show(notices)

    def _show(self, notices: list[str]) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, "Spyglass started with a problem", "\n\n".join(notices),
                          parent=self.window)
        if self.damaged is not None:
            self.recover_button = box.addButton("Recover what can be read", QMessageBox.ButtonRole.AcceptRole)
            self.recover_button.clicked.connect(self.recover)
            box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
        else:
            box.addButton(QMessageBox.StandardButton.Ok)
        box.open()
        self.box = box
        self.window.statusBar().showMessage(notices[-1], 30000)

    def recover(self) -> None:
        """Read the damaged file in the background, then add what it held to the history."""
        damaged = self.damaged
        if damaged is None:
            return
        self.window.statusBar().showMessage(f"Recovering history from {damaged}…")
        self.window.tasks.run_task(lambda: read_salvage(damaged), self._salvaged, self._failed)

    def _salvaged(self, salvage: Salvage) -> None:
        try:
            restored = restore(self.window.store, salvage)
        except sqlite3.Error as err:
            self._failed(f"the recovered rows could not be added to the history: {err}")
            return
        self.recovered = restored
        self.window.conversations.refresh()
        lost = sum(n for n in salvage.unreadable.values() if n > 0)
        self.window.statusBar().showMessage(
            f"Recovered {restored.conversations} conversations, {restored.messages} messages and "
            f"{restored.attachments} attachments from {salvage.source}"
            + (f"; {lost} rows could not be read" if lost else ""),
            30000,
        )
        self.sig_recovered.emit(restored)

    def _failed(self, message: str) -> None:
        text = f"Nothing was recovered from {self.damaged}: {message}"
        self.window.statusBar().showMessage(text, 30000)
        QMessageBox(QMessageBox.Icon.Warning, "History not recovered", text, parent=self.window).open()


__all__ = ["StartupReport"]
