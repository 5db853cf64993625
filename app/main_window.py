"""The Spyglass window: conversations on the left, the chat and composer on the right; or, in
its Agent tab, the agent panel (app/agent_panel.py).

It wires the parts together and owns their lifetimes: the engine thread (one worker owning the
engine), the task runner for ingestion and viewers, and the pending attachments of the composer.
Files dropped anywhere on the window, pasted, or captured from the screen become chips while
they are read in the background, showing progress; removing a chip cancels its reading.
closeEvent cancels readings in flight, stops the reply, ends and waits on the engine thread
and waits for background jobs (STYLE 17). Nothing here blocks on the model or on a file.
Chat and the agent share the one engine worker, so each refuses to start while the other runs.
A closing window stops an agent task first (a pending question is answered no), waits for it
with the engine thread, then records its ending.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QImage, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMenu, QMessageBox, QSplitter, QTabWidget, QVBoxLayout, QWidget

from app.agent_panel import AgentPanel
from app.agent_run import AgentController
from app.attachments import Attachment, load_attachment, save_capture, with_estimate
from app.chat_view import ChatView
from app.citations import Citation
from app.composer import Composer, local_files
from app.conversation_list import ConversationList
from app.images import to_pixels
from app.model_status import HOW_TO_GET_A_MODEL, ModelStatus
from app.models_dialog import LINK_GET_MODEL, LINK_OPEN_GGUF, ModelsDialog, gguf_file_dialog
from app.screenshot_overlay import RegionPicker
from app.session import ChatSession
from app.settings_dialog import SettingsDialog
from app.tasks import TaskRunner
from app.viewer import open_viewer
from app.worker import EngineStatus, EngineThread, WorkerFailure
from core import desktop, ingest
from core.engine import Engine, EngineInfo, model_location, open_engine
from core.history import HistoryStore
from core.messages import ImagePart, Source
from core.models import default_models_dir
from core.settings import FIELDS, Settings, overridden_fields, save_settings, settings_path

EngineMaker = Callable[[Settings], Engine]
# how the model loads: a change to any of these reloads it
RELOAD_FIELDS = ("model_dir", "engine", "context_tokens",
                 *(k for k in FIELDS if k.startswith(("msa.", "gguf.", "remote."))))


def default_engine(settings: Settings) -> Engine:
    """The engine the registry chooses for `settings` (core.engine.open_engine)."""
    return open_engine(settings)


def monitor_rects() -> list[tuple[int, int, int, int]]:
    """The monitors in the numbering the capture uses (mss); Qt's list when there is no X display."""
    try:
        return desktop.list_monitors()
    except desktop.CaptureError:
        return [(g.x(), g.y(), g.width(), g.height()) for g in (s.geometry() for s in QGuiApplication.screens())]


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings, store: HistoryStore, *, make_engine: EngineMaker = default_engine,
                 overridden: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.setWindowTitle("Spyglass")
        self.resize(1280, 820)
        self.setAcceptDrops(True)
        self.settings, self.store, self.make_engine, self.overridden = settings, store, make_engine, overridden
        self.engine, self.tasks = EngineThread(self), TaskRunner(self)
        self.pending: dict[int, Attachment | None] = {}  # None while the file is read
        self.reading: dict[int, threading.Event] = {}  # cancel flags of ingestions in flight
        self._keys = itertools.count(1)
        self.viewers: list = []
        self.models_dialog: ModelsDialog | None = None
        self.startup_report = None  # app.startup_report.StartupReport, set by app.application.start_window
        self._build()
        self.info: EngineInfo | None = None  # the loaded engine's context and media plan
        self.session = ChatSession(store, self.engine, self.chat, settings)
        self.agent = AgentController(self.engine, store, self.agent_panel, settings=settings,
                                     blocked=self._agent_blocked, model_name=self.model_name, parent=self)
        self.agent.sig_running.connect(lambda on: self.pages.setTabText(1, "Agent (running)" if on else "Agent"))
        self._connect()
        self.load_model()
        self.conversations.select(None)

    def _build(self) -> None:
        self.conversations, self.chat, self.composer = ConversationList(self.store), ChatView(), Composer()
        self.status = ModelStatus()
        self.statusBar().addPermanentWidget(self.status, 1)
        right = QWidget()
        column = QVBoxLayout(right)
        column.addWidget(self.chat, 1)
        column.addWidget(self.composer)
        split = QSplitter()
        split.addWidget(self.conversations)
        split.addWidget(right)
        split.setSizes([260, 1020])
        self.agent_panel = AgentPanel()
        self.pages = QTabWidget(documentMode=True)
        self.pages.addTab(split, "Chat")
        self.pages.addTab(self.agent_panel, "Agent")
        self.pages.setTabToolTip(1, "Let the model use this computer's mouse and keyboard, step by step")
        self.setCentralWidget(self.pages)
        self.drop_hint = QLabel("Drop PDFs, images or videos to attach them", self)
        self.drop_hint.setStyleSheet("background:rgba(37,99,235,200); color:white; font-size:18px; padding:30px;")
        self.drop_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.drop_hint.hide()
        menu = QMenu(self)
        menu.addAction("Whole screen", lambda: self.capture(None))
        for i, (_, _, width, height) in enumerate(monitor_rects(), start=1):
            menu.addAction(f"Monitor {i} ({width}×{height})", lambda i=i: self.capture(i))
        menu.addAction("Region…", lambda: self.capture("region"))
        self.composer.screenshot_button.setMenu(menu)
        settings = QAction("Settings…", self, shortcut=QKeySequence("Ctrl+,"), triggered=self.open_settings)
        new = QAction("New conversation", self, shortcut=QKeySequence.StandardKey.New,
                      triggered=self.conversations.new_conversation)
        file_menu = self.menuBar().addMenu("&Spyglass")
        for action in (new, settings):
            file_menu.addAction(action)
        file_menu.addAction("Get a model…", self.open_models)
        file_menu.addAction("Open a .gguf file…", self.open_gguf)
        file_menu.addAction("Quit", self.close)

    def show_agent(self, on: bool = True) -> None:
        """Switch to the Agent tab (or back to Chat)."""
        self.pages.setCurrentWidget(self.agent_panel if on else self.pages.widget(0))

    def _agent_blocked(self) -> str:
        """Why an agent task cannot start now ("" when it can)."""
        if self.status.state != "ready":
            return "No model is ready to act; see the status below and Settings."
        if self.session.generating:
            return "A chat reply is still streaming; stop it or let it finish before starting a task."
        return ""

    def _connect(self) -> None:
        w = self.engine.worker
        w.sig_status.connect(self._engine_status)
        w.sig_load_progress.connect(self.status.show_progress)
        w.sig_failed.connect(self._worker_failed)
        self.conversations.sig_selected.connect(self._open_conversation)
        self.composer.sig_send.connect(self.send)
        self.composer.sig_stop.connect(self.session.stop)
        self.composer.sig_files.connect(self.attach_files)
        self.composer.sig_image.connect(self.attach_image)
        self.composer.sig_removed.connect(self._removed)
        self.session.sig_generating.connect(self.composer.set_generating)
        self.session.sig_conversation_changed.connect(self.conversations.refresh)
        self.session.sig_notice.connect(lambda text: self.statusBar().showMessage(text, 15000))
        self.chat.sig_citation.connect(self.open_citation)
        self.chat.anchorClicked.connect(self._model_link)
        self.chat.sig_open_attachment.connect(
            lambda a: a.path and self._view(a.path, "pdf" if a.kind == "pdf" else "video", 1 if a.kind == "pdf" else 0))

    # model
    def model_name(self) -> str:
        return model_location(self.settings) or ""

    def load_model(self) -> None:
        s = self.settings
        self.info = None
        location = model_location(s)  # a folder or file, or a remote server's URL
        if not location:
            self.status.show_status(EngineStatus("none"))
        else:  # show it at once: until the worker answers, the old model's "ready" would still show
            self.status.show_status(EngineStatus("loading", location))
            self.engine.load(lambda: self.make_engine(s), location)

    def _worker_failed(self, failure: WorkerFailure) -> None:
        self.statusBar().showMessage(failure.message, 15000)  # the reply itself shows it too

    def open_settings(self) -> SettingsDialog:
        """The settings dialog, window-modal without blocking; Save applies and saves what it shows."""
        dialog = SettingsDialog(self.settings, self.overridden, self)
        dialog.accepted.connect(lambda: self._settings_saved(dialog))
        dialog.open()
        self.settings_dialog = dialog
        return dialog

    def _settings_saved(self, dialog: SettingsDialog) -> None:
        try:
            self.apply_settings(dialog.settings(), save=True)
        except (ValueError, OSError) as err:
            self.statusBar().showMessage(f"Settings not saved: {err}", 15000)
            QMessageBox(QMessageBox.Icon.Warning, "Settings not saved", str(err), parent=self).open()

    def apply_settings(self, settings: Settings, *, save: bool) -> None:
        """Use `settings` from the next request on; a change to how the model loads reloads it."""
        reload = [settings.get(k) != self.settings.get(k) for k in RELOAD_FIELDS]
        if save:  # an override the user did not touch in the dialog is not written to the file
            changed = {k for k in FIELDS if settings.get(k) != self.settings.get(k)}
            kept = save_settings(settings, settings_path(), keep=overridden_fields(self.overridden) - changed)
            if kept is not None:
                self.statusBar().showMessage(f"The old settings file could not be read; it was kept as {kept}", 30000)
        self.settings = settings
        self.session.update_settings(settings)
        self.agent.update_settings(settings)
        if any(reload):
            self.load_model()

    def open_models(self) -> ModelsDialog:
        """The Get a model dialog (catalog downloads into the data folder's models/), window-modal, not blocking."""
        if self.models_dialog is not None and self.models_dialog.isVisible():  # a download may be in flight there
            self.models_dialog.raise_()
            return self.models_dialog
        s = self.settings
        folder = Path(s.models_dir).expanduser() if s.models_dir else default_models_dir(s.data_dir)
        self.models_dialog = ModelsDialog(folder, parent=self)
        self.models_dialog.sig_model_chosen.connect(self.use_model)
        self.models_dialog.open()
        return self.models_dialog

    def open_gguf(self) -> None:
        notice = lambda text: self.statusBar().showMessage(text, 15000)
        self.gguf_dialog = gguf_file_dialog(self, self.use_model, notice)

    def use_model(self, path: str) -> None:
        """Make the downloaded or opened .gguf the model (saved as model_dir) and load it."""
        try:
            self.apply_settings(replace(self.settings, model_dir=path), save=True)
        except (ValueError, OSError) as err:
            self.statusBar().showMessage(f"Model not saved in the settings: {err}", 15000)

    def _model_link(self, url: QUrl) -> None:
        link = url.toString()
        if link == LINK_GET_MODEL:
            self.open_models()
        elif link == LINK_OPEN_GGUF:
            self.open_gguf()

    # conversations
    def _open_conversation(self, conversation_id: int | None) -> None:
        if self.session.generating:
            self.session.stop()
        self.session.open(conversation_id, self._welcome())

    def _welcome(self) -> str:
        return HOW_TO_GET_A_MODEL if self.status.state in ("none", "failed") else \
            "<p style='color:#666'>Ask anything, or drop PDFs, images and videos here.</p>"

    def _engine_status(self, status: EngineStatus) -> None:
        """An empty conversation's welcome follows the model: how to get one once loading fails."""
        self.status.show_status(status)
        self.info = status.info if status.state == "ready" else None
        if self.info is not None:  # chips read before the model was ready get their estimate now
            for key, att in self.pending.items():
                if att is not None:
                    self._attached(key, with_estimate(att, self.info))
        if self.session.conversation_id is None and not self.chat.messages:
            self.chat.set_messages([], self._welcome())

    def send(self, text: str) -> None:
        if self.status.state != "ready":
            self.statusBar().showMessage("No model is ready to answer; see the status below and Settings.", 15000)
            return
        if self.agent.running:
            self.statusBar().showMessage("An agent task is running; stop it or let it finish before chatting.", 15000)
            return
        if any(a is None for a in self.pending.values()):
            self.statusBar().showMessage("Attachments are still being read; send again in a moment.", 8000)
            return
        attachments = [a for a in self.pending.values() if a is not None]
        self.pending.clear()
        self.composer.clear()
        self.session.send(text, attachments, self.model_name())

    # attachments
    def attach_files(self, paths: list[str]) -> None:
        for path in paths:
            key, cancel = next(self._keys), threading.Event()
            self.pending[key], self.reading[key] = None, cancel
            self.composer.add_chip(key, Path(path).name)
            progress = self.tasks.reporter(lambda p, key=key: self._reading_progress(key, p))
            self.tasks.run_task(lambda p=path, c=cancel, r=progress: load_attachment(
                                    p, info=self.info, on_progress=r, cancel=c),
                                lambda att, key=key: self._attached(key, att),
                                lambda err, key=key: self._attach_failed(key, err))

    def _reading_progress(self, key: int, progress: ingest.IngestProgress) -> None:
        chip = self.composer.chips.get(key)
        if chip is not None and key in self.pending:
            chip.show_progress(progress)

    def _removed(self, key: int) -> None:
        """The user removed a chip: forget it, and stop reading its file if that is still going on."""
        self.pending.pop(key, None)
        cancel = self.reading.get(key)
        if cancel is not None:
            cancel.set()

    def _attached(self, key: int, att: Attachment) -> None:
        self.reading.pop(key, None)
        chip = self.composer.chips.get(key)
        if key in self.pending and chip is not None:
            self.pending[key] = att
            chip.show_attachment(att)

    def _attach_failed(self, key: int, message: str) -> None:
        self.reading.pop(key, None)
        if key not in self.pending:  # removed by the user while it was read: cancelled, not an error
            return
        self.pending.pop(key, None)
        self.composer.drop_chip(key)
        self.statusBar().showMessage(f"Cannot attach: {message}", 15000)
        box = QMessageBox(QMessageBox.Icon.Warning, "Cannot attach", message, parent=self)
        box.open()  # window-modal without blocking the event loop

    def attach_image(self, image: QImage, kind: str = "clipboard") -> None:
        part = ImagePart(to_pixels(image), Source(kind if kind != "clipboard" else "clipboard"))
        self.attach_part(part, kind)

    def attach_part(self, part: ImagePart, kind: str) -> None:
        key = next(self._keys)
        chip = self.composer.add_chip(key, kind)
        att = save_capture(part, self.settings.history_path().parent / "captures", kind, self.info)
        self.pending[key] = att
        chip.show_attachment(att)

    def capture(self, target) -> None:
        """Hide the window, wait for the compositor, capture, show the window again."""
        self.hide()
        QTimer.singleShot(250, lambda: self._capture_now(target))

    def _capture_now(self, target) -> None:
        try:
            shot = desktop.capture_screen(monitor=None if target in (None, "region") else target)
        except (ValueError, OSError, RuntimeError) as err:
            self.show()
            self.statusBar().showMessage(f"Screenshot failed: {err}", 15000)
            return
        if target != "region":
            self.show()
            self.attach_part(shot, "screenshot")
            return
        self.picker = RegionPicker(shot)
        self.picker.sig_picked.connect(lambda part: (self.show(), self.attach_part(part, "screenshot")))
        self.picker.sig_cancelled.connect(self.show)
        self.picker.show()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if local_files(event.mimeData()) or event.mimeData().hasImage():
            event.acceptProposedAction()
            self.drop_hint.setGeometry(self.rect().adjusted(40, 80, -40, -80))
            self.drop_hint.show()
            self.drop_hint.raise_()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.drop_hint.hide()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        self.drop_hint.hide()
        if files := local_files(event.mimeData()):
            self.attach_files(files)
        elif event.mimeData().hasImage():
            self.attach_image(QImage(event.mimeData().imageData()))
        event.acceptProposedAction()

    # citations
    def open_citation(self, citation: Citation) -> None:
        kind = "pdf" if citation.kind == "page" else "video"
        for m in reversed(self.chat.messages):
            for a in m.attachments:
                if a.path and (a.kind == kind or (kind == "video" and a.kind in ("image", "screenshot"))):
                    self._view(a.path, kind, citation.value)
                    return
        self.statusBar().showMessage(f"This conversation has no {'PDF' if kind == 'pdf' else 'video'} to show that in.",
                                     8000)

    def _view(self, path: str, kind: str, value: float) -> None:
        self.viewers.append(open_viewer(self, self.tasks, path=path, kind=kind, value=value))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.agent.close()
        self.session.stop()
        if self.models_dialog is not None:
            self.models_dialog.stop()  # a download in flight pauses; its parts stay for next time
        self.engine.stop()
        self.agent.finish_close()
        self.session.abandon()
        for cancel in self.reading.values():
            cancel.set()
        self.tasks.wait()
        super().closeEvent(event)
