"""Get a model: the catalog of small vision models with Download, Pause/Resume and Cancel, or a .gguf file.

The list shows each entry's name, size, licence and what it is good at; a licence that is not
permissive says so. A download (the model and its projector as one item, core.models) runs on the
dialog's own thread pool through TaskRunner, reporting progress to the bar; Pause and Cancel set
the job's cancel event, which the downloader checks between chunks. Pause keeps the `.part` files
and Resume asks only for the rest; Cancel removes them. Closing the dialog pauses (parts are kept
for next time) and waits for the job. Errors stay in the dialog, in red. When a model is on disk,
or the user opens a .gguf file, `sig_model_chosen` carries its path; the window makes it the model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QThreadPool, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.tasks import TaskRunner
from core.models import (
    CatalogEntry,
    CatalogError,
    InstalledModel,
    ItemProgress,
    discard_partial,
    download_entry,
    entry_folder,
    load_catalog,
    missing_bytes,
)

LINK_GET_MODEL = "model:get"
LINK_OPEN_GGUF = "model:open"
GGUF_MAGIC = b"GGUF"
COLUMNS = ("Model", "Size", "Licence", "Good at")


def human_size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def gguf_problem(path: str) -> str | None:
    """Why `path` is not a GGUF model file, or None when it looks like one (by name and magic bytes)."""
    file = Path(path)
    if file.suffix.lower() != ".gguf":
        return f"{file.name} is not a .gguf file; choose a GGUF model (for a MiniMax-M3 folder use Settings)."
    try:
        with file.open("rb") as f:
            magic = f.read(4)
    except OSError as err:
        return f"Cannot read {file}: {err.strerror or err}."
    return None if magic == GGUF_MAGIC else f"{file.name} does not start like a GGUF file; it may be damaged."


def gguf_file_dialog(parent: QWidget, on_chosen: Callable[[str], None],
                     on_problem: Callable[[str], None]) -> QFileDialog:
    """A window-modal, non-blocking file dialog for one .gguf file; a chosen file is checked first."""
    dialog = QFileDialog(parent, "Open a .gguf model", "", "GGUF models (*.gguf)")
    dialog.setFileMode(QFileDialog.FileMode.ExistingFile)

    def chosen(path: str) -> None:
        problem = gguf_problem(path)
        on_problem(problem) if problem else on_chosen(path)

    dialog.fileSelected.connect(chosen)
    dialog.open()
    return dialog


class ModelsDialog(QDialog):
    sig_model_chosen = Signal(str)
    """str: path of the model .gguf downloaded or opened; a downloaded model's mmproj-*.gguf sits beside it."""

    def __init__(self, models_dir: Path, entries: tuple[CatalogEntry, ...] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Get a model")
        self.resize(900, 460)
        self.models_dir = models_dir
        self.tasks = TaskRunner(self, QThreadPool(self))
        self.cancel: threading.Event | None = None  # the running job's, None when idle
        self.stopping: str | None = None  # "pause" or "cancel" while a stop is on its way
        self.paused: CatalogEntry | None = None
        self.file_dialog: QFileDialog | None = None
        self._build()
        self.entries: tuple[CatalogEntry, ...] = ()
        try:
            self.entries = entries if entries is not None else load_catalog()
        except CatalogError as err:
            self.show_error(str(err))
        self._fill()
        self._update_buttons()

    def _build(self) -> None:
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.download_button = QPushButton("Download", clicked=self.start_download)
        self.pause_button = QPushButton("Pause", clicked=self.toggle_pause)
        self.cancel_button = QPushButton("Cancel download", clicked=self.cancel_download)
        self.open_button = QPushButton("Open a .gguf file…", clicked=self.open_gguf_file)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel(f"Models are saved in {self.models_dir}.")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        for button in (self.download_button, self.pause_button, self.cancel_button):
            row.addWidget(button)
        row.addWidget(self.progress, 1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, rejected=self.reject)
        close.addButton(self.open_button, QDialogButtonBox.ButtonRole.ActionRole)
        column = QVBoxLayout(self)
        for widget in (self.table, self.status):
            column.addWidget(widget)
        column.addLayout(row)
        column.addWidget(close)

    def _fill(self) -> None:
        self.table.setRowCount(len(self.entries))
        for i, e in enumerate(self.entries):
            licence = e.licence if e.permissive else f"{e.licence} — read the terms"
            for j, text in enumerate((e.name, human_size(e.size), licence, e.good_at)):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{e.source}\nLicence: {e.licence_url}" if j == 2 else text)
                self.table.setItem(i, j, item)
        self.table.resizeRowsToContents()
        if self.entries:
            self.table.selectRow(0)

    def selected_entry(self) -> CatalogEntry | None:
        rows = self.table.selectionModel().selectedRows()
        return self.entries[rows[0].row()] if rows else None

    # downloading
    def start_download(self) -> None:
        entry = self.selected_entry()
        if entry is not None and self.cancel is None:
            if self.paused is not None and self.paused != entry:
                discard_partial(self.paused, self.models_dir)  # one paused item at a time
            self._begin(entry)

    def _begin(self, entry: CatalogEntry) -> None:
        self.cancel, self.stopping, self.paused = threading.Event(), None, None
        cancel, models_dir, report = self.cancel, self.models_dir, self.tasks.reporter(self._progress)
        folder = entry_folder(models_dir, entry)
        done = entry.size - missing_bytes(entry, folder) if folder.exists() else 0
        self.progress.setValue(done * 1000 // entry.size)
        self.show_status(f"Downloading {entry.name} ({human_size(entry.size)})…")
        self.tasks.run_task(lambda: download_entry(entry, models_dir, progress=report, cancel=cancel),
                            self._done, lambda message: self._stopped(entry, message))
        self._update_buttons()

    def toggle_pause(self) -> None:
        if self.cancel is not None:
            self.stopping = "pause"
            self.cancel.set()
        elif self.paused is not None:
            self._begin(self.paused)

    def cancel_download(self) -> None:
        if self.cancel is not None:
            self.stopping = "cancel"
            self.cancel.set()
        elif self.paused is not None:
            discard_partial(self.paused, self.models_dir)
            self.paused = None
            self.progress.setValue(0)
            self.show_status("Download cancelled; the partial files were removed.")
            self._update_buttons()

    def _progress(self, p: ItemProgress) -> None:
        self.progress.setValue(p.done * 1000 // max(p.total, 1))
        self.progress.setFormat(f"{human_size(p.done)} of {human_size(p.total)}")

    def _done(self, result: InstalledModel) -> None:
        self.cancel = self.stopping = None
        self.progress.setValue(1000)
        text = f"Saved in {result.model.path.parent}."
        if result.unverified:
            text += (f" Could not verify {', '.join(result.unverified)}: no checksum is known for it, so it is "
                     "used as downloaded.")
        self.show_status(text, warn=bool(result.unverified))
        self._update_buttons()
        self.sig_model_chosen.emit(str(result.model.path))

    def _stopped(self, entry: CatalogEntry, message: str) -> None:
        how, self.cancel, self.stopping = self.stopping, None, None
        if how == "pause":
            self.paused = entry
            self.show_status(f"Paused {entry.name}. Resume continues where it stopped.")
        elif how == "cancel":
            discard_partial(entry, self.models_dir)
            self.progress.setValue(0)
            self.show_status("Download cancelled; the partial files were removed.")
        else:
            self.paused = entry  # whatever arrived is kept: Resume continues after a network error
            self.show_error(message)
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self.cancel is not None
        self.download_button.setEnabled(not running and self.selected_entry() is not None)
        self.pause_button.setEnabled(running or self.paused is not None)
        self.pause_button.setText("Pause" if running or self.paused is None else "Resume")
        self.cancel_button.setEnabled(running or self.paused is not None)

    # messages
    def show_status(self, text: str, *, warn: bool = False) -> None:
        self.status.setStyleSheet("color:#b45309" if warn else "")
        self.status.setText(text)

    def show_error(self, text: str) -> None:
        self.status.setStyleSheet("color:#b91c1c")
        self.status.setText(text)

    # a file the user already has
    def open_gguf_file(self) -> QFileDialog:
        self.file_dialog = gguf_file_dialog(self, self.sig_model_chosen.emit, self.show_error)
        return self.file_dialog

    # lifetime
    def stop(self) -> None:
        """Pause a download in flight (its parts stay for next time) and wait for the job to end."""
        if self.cancel is not None:
            self.stopping = "pause"
            self.cancel.set()
        self.tasks.wait()

    def done(self, result: int) -> None:  # noqa: D102 - every way of closing ends here
        self.stop()
        super().done(result)
