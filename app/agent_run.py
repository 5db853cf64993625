"""Runs one agent task at a time for the window: the Agent on the engine worker, everything else here.

Start builds the task's parts on the UI thread (the desktop, the executor, a `QtConsent`, the
agent's config from the settings) into an `AgentHandle` and sends it to the engine worker, which
registers the global emergency stop (its callback is the handle's thread-safe stop; a task without
one never begins), builds the Agent over the engine it owns and runs it (app/worker.py and
app/agent_handle.py say why there). Our windows' rectangles (app/own_windows.py) are followed
while the task runs and handed to the agent as `own_windows`. Steps come back by signal; each one
is shown and written to the history on this thread (the store's connection belongs to it); a
history write that fails stops the task, since every executed action must be logged. `close` (the
window closing) stops the task, which answers a pending question "deny"; the window then waits on
the worker thread, and `finish_close` delivers what the worker sent meanwhile and records the end.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Signal

from app.agent_consent import QtConsent
from app.agent_handle import AgentHandle, Hotkey
from app.agent_panel import AgentPanel
from app.own_windows import OwnWindows
from app.worker import AgentEnded, AgentProgress, EngineThread
from core.agent.look import Desktop, LiveDesktop
from core.agent.loop import Agent, AgentConfig, Executor
from core.agent.steps import TaskEnded
from core.desktop.hotkey import DEFAULT_COMBO, EmergencyStop
from core.engine import Engine, options_from_settings
from core.history import HistoryStore
from core.settings import Settings


def live_hotkey(combo: str, on_press: Callable[[], None]) -> Hotkey:
    return EmergencyStop(combo, on_press=on_press)


def live_executor() -> Executor:
    from core.desktop.input import Executor as InputExecutor

    return InputExecutor()


class AgentController(QObject):
    sig_running = Signal(bool)
    """A task started (True) or ended (False)."""

    def __init__(
        self,
        engine: EngineThread,
        store: HistoryStore,
        panel: AgentPanel,
        *,
        settings: Settings,
        blocked: Callable[[], str],
        model_name: Callable[[], str],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.engine, self.store, self.panel, self.settings = engine, store, panel, settings
        self.blocked, self.model_name = blocked, model_name
        self.own = OwnWindows(self)
        self.make_desktop: Callable[[Settings], Desktop] = lambda s: LiveDesktop(monitor=s.agent.monitor)
        self.make_executor: Callable[[], Executor] = live_executor
        self.make_hotkey: Callable[[str, Callable[[], None]], Hotkey] = live_hotkey
        self.request_id: int | None = None
        self.task_id: int | None = None
        self.handle: AgentHandle | None = None
        self.consent: QtConsent | None = None
        self.problem = ""  # why the task was stopped from here (the history failed), added to its ending
        engine.worker.sig_agent_step.connect(self._on_step)
        engine.worker.sig_agent_ended.connect(self._on_ended)
        panel.sig_start.connect(self.start)
        panel.sig_stop.connect(self.stop)
        panel.sig_answered.connect(self._answer)
        panel.set_hotkey(self.combo())
        panel.show_history(store.agent_tasks())

    @property
    def running(self) -> bool:
        return self.request_id is not None

    def combo(self) -> str:
        return self.settings.agent.stop_hotkey or DEFAULT_COMBO

    def update_settings(self, settings: Settings) -> None:
        """Used from the next task on."""
        self.settings = settings
        self.panel.set_hotkey(self.combo())

    def start(self, task: str) -> bool:
        reason = "A task is already running." if self.running else self.blocked()
        if reason:
            self.panel.show_notice(reason, error=True)
            return False
        try:
            handle, consent = self._prepare()
            self.task_id = self.store.start_task(task, self.model_name())
        except Exception as err:  # noqa: BLE001 - the task does not start, and the user is told why
            self.panel.show_notice(f"The agent cannot start: {err}", error=True)
            return False
        self.handle, self.consent, self.problem = handle, consent, ""
        self.own.start()
        self.panel.task_started()
        self.request_id = self.engine.run_agent(task, handle)
        self.sig_running.emit(True)
        return True

    def _prepare(self) -> tuple[AgentHandle, QtConsent]:
        """The task's handle (the Agent and its emergency stop are made later, on the worker) and
        its consent."""
        s, own, combo, make_hotkey = self.settings, self.own, self.combo(), self.make_hotkey
        desktop, executor = self.make_desktop(s), self.make_executor()
        config = AgentConfig(max_steps=s.agent.max_steps)
        options = replace(options_from_settings(s), max_tokens=config.max_tokens)
        consent = QtConsent(self)
        consent.sig_asked.connect(self.panel.ask)

        def make_agent(engine: Engine) -> Agent:  # on the worker thread
            return Agent(
                engine, executor, consent=consent, desktop=desktop, own_windows=own, config=config, options=options
            )

        return AgentHandle(make_agent, lambda on_press: make_hotkey(combo, on_press)), consent

    def stop(self) -> None:
        """Stop the task (thread-safe underneath: the handle stops the Agent, which answers a pending question no)."""
        if self.handle is not None:
            self.handle.stop()
        if self.consent is not None:
            self.consent.cancel()

    def _answer(self, question_id: int, answer: str) -> None:
        if self.consent is not None:
            self.consent.answer(question_id, answer)

    def _on_step(self, progress: AgentProgress) -> None:
        if progress.request_id != self.request_id or self.task_id is None:
            return
        self.panel.show_step(progress.step)
        try:
            self.store.save_step(self.task_id, progress.step)
        except (sqlite3.Error, OSError) as err:
            self.problem = f"the history cannot be written ({err}), so the task was stopped"
            self.stop()

    def _on_ended(self, ended: AgentEnded) -> None:
        if ended.request_id == self.request_id:
            self._end(ended.ended)

    def _end(self, ended: TaskEnded) -> None:
        task_id = self.task_id
        self.request_id = self.task_id = self.handle = self.consent = None
        self.own.stop()
        if self.problem:
            ended = replace(ended, ending="error", message=f"{ended.message}; {self.problem}")
        self.panel.task_ended(ended)
        try:
            if task_id is not None:
                self.store.end_task(task_id, ended.ending, ended.message)
            self.panel.show_history(self.store.agent_tasks())
        except (sqlite3.Error, OSError) as err:
            self.panel.show_notice(f"{ended.message} (the history cannot be written: {err})", error=True)
        self.sig_running.emit(False)

    def close(self) -> None:
        """The window closes: stop the task now; the window then waits on the worker thread."""
        self.stop()

    def finish_close(self) -> None:
        """After the worker thread ended: deliver the steps and the ending it sent, or record the stop."""
        QCoreApplication.sendPostedEvents(self, QEvent.Type.MetaCall)
        if self.running:
            self._end(TaskEnded("stopped", "the window closed", 0))
