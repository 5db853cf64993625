"""The side panel: conversations newest first, a search box, New, Rename and Delete.

It reads and writes through the history store on the UI thread (each call is one small SQLite
transaction). Deleting asks first; renaming edits the item in place. The selected conversation
is announced with `sig_selected` (None when nothing is selected).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QHBoxLayout, QLineEdit, QListWidget, QListWidgetItem, QMessageBox, QPushButton,
                               QVBoxLayout, QWidget)

from core.history import HistoryStore


class ConversationList(QWidget):
    sig_selected = Signal(object)
    """int | None: the conversation now shown, or None for a new, empty one."""

    def __init__(self, store: HistoryStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.search = QLineEdit(placeholderText="Search conversations", clearButtonEnabled=True)
        self.items = QListWidget()
        self.items.setEditTriggers(QListWidget.EditTrigger.EditKeyPressed | QListWidget.EditTrigger.DoubleClicked)
        self.new_button, self.rename_button, self.delete_button = (QPushButton(t) for t in ("New", "Rename", "Delete"))
        buttons = QHBoxLayout()
        for b in (self.new_button, self.rename_button, self.delete_button):
            buttons.addWidget(b)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.search)
        column.addWidget(self.items, 1)
        column.addLayout(buttons)
        self.search.textChanged.connect(lambda _: self.refresh())
        self.items.currentItemChanged.connect(self._current_changed)
        self.items.itemChanged.connect(self._renamed)
        self.new_button.clicked.connect(self.new_conversation)
        self.rename_button.clicked.connect(self.rename_current)
        self.delete_button.clicked.connect(self.delete_current)
        self.refresh()

    def current_id(self) -> int | None:
        item = self.items.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def refresh(self, select: int | None = None) -> None:
        keep = select if select is not None else self.current_id()
        self.items.blockSignals(True)
        self.items.clear()
        for conv in self.store.conversations(self.search.text()):
            item = QListWidgetItem(conv.title)
            item.setData(Qt.ItemDataRole.UserRole, conv.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            self.items.addItem(item)
            if conv.id == keep:
                self.items.setCurrentItem(item)
        self.items.blockSignals(False)

    def select(self, conversation_id: int | None) -> None:
        self.refresh(select=conversation_id)
        self.sig_selected.emit(self.current_id())

    def new_conversation(self) -> None:
        self.items.setCurrentItem(None)
        self.sig_selected.emit(None)

    def rename_current(self) -> None:
        item = self.items.currentItem()
        if item is not None:
            self.items.editItem(item)

    def _renamed(self, item: QListWidgetItem) -> None:
        self.store.rename_conversation(item.data(Qt.ItemDataRole.UserRole), item.text())
        self.refresh()

    def delete_current(self) -> None:
        item = self.items.currentItem()
        if item is None:
            return
        answer = QMessageBox.question(self, "Delete conversation",
                                      f"Delete “{item.text()}” and all its messages? This cannot be undone.",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        if answer == QMessageBox.StandardButton.Yes:
            self.store.delete_conversation(item.data(Qt.ItemDataRole.UserRole))
            self.refresh()
            self.items.setCurrentItem(None)
            self.sig_selected.emit(None)

    def _current_changed(self, current: QListWidgetItem | None, _previous) -> None:
        self.sig_selected.emit(current.data(Qt.ItemDataRole.UserRole) if current else None)
