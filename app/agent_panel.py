"""The window's Agent mode: a task, its steps as they happen, the question bar, Stop, and the ending.

Each step is one row: the thumbnail with the marker where the action lands, the action in words
(or why the model's reply was no action), the model's own note on it, the policy's verdict (tier,
what it decided and why) and the outcome. A Step that comes again with the same index rewrites its
row in place. The panel only shows and relays: the start, stop and answers go out as signals, and
the controller (app/agent_run.py) decides. Past tasks from the history are listed below with their
endings.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.agent_consent import ConsentQuestion
from app.consent_bar import ConsentBar
from core.agent.loop import describe
from core.agent.steps import Step, TaskEnded, Verdict
from core.history.agent_log import AgentTaskRecord

THUMB = QSize(160, 100)
DECISION_WORDS = {"run": "runs", "ask": "asks first", "refuse": "refused", "replan": "re-planned"}
ENDING_WORDS = {
    "done": "Done",
    "gave_up": "The agent gave up",
    "stopped": "Stopped",
    "step_cap": "Step cap reached",
    "error": "Failed",
    "denied": "Ended: not allowed",
    "running": "Running",
}


def action_words(step: Step) -> str:
    if step.rejected is not None:
        return f"no action: {step.rejected.reason}"
    return describe(step.action) if step.action is not None else "no action"


def verdict_words(verdict: Verdict | None) -> str:
    if verdict is None:
        return ""
    words = f"{verdict.tier}, {DECISION_WORDS[verdict.decision]}"
    return words + (": " + "; ".join(verdict.reasons) if verdict.reasons else "")


def step_words(step: Step) -> str:
    outcome = step.outcome.replace("_", " ") + (f": {step.detail}" if step.detail else "")
    note = step.action.note.strip() if step.action is not None else ""
    lines = [
        f"{step.index}. {action_words(step)}",
        f"“{note[:200]}”" if note else "",
        verdict_words(step.verdict),
        outcome,
    ]
    return "\n".join(line for line in lines if line)


def ending_words(ending: str, message: str) -> str:
    return f"{ENDING_WORDS.get(ending, ending)}: {message}" if message else ENDING_WORDS.get(ending, ending)


class AgentPanel(QWidget):
    sig_start = Signal(str)
    """The user asked to start this task."""
    sig_stop = Signal()
    """The user pressed Stop."""
    sig_answered = Signal(int, str)
    """(question id, answer): the user answered the agent's question."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.task = QLineEdit(placeholderText="What should the agent do on this computer?")
        self.start_button, self.stop_button = QPushButton("Start"), QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.hotkey = QLabel()
        self.hotkey.setStyleSheet("color:#666")
        self.consent = ConsentBar()
        self.steps = QListWidget()
        self.steps.setIconSize(THUMB)
        self.steps.setWordWrap(True)
        self.ending = QLabel(wordWrap=True)
        self.past = QListWidget()
        self.past.setMaximumHeight(120)
        self.rows: dict[int, QListWidgetItem] = {}
        top = QHBoxLayout()
        top.addWidget(self.task, 1)
        top.addWidget(self.start_button)
        top.addWidget(self.stop_button)
        column = QVBoxLayout(self)
        column.addLayout(top)
        column.addWidget(self.hotkey)
        column.addWidget(self.consent)
        column.addWidget(self.steps, 1)
        column.addWidget(self.ending)
        column.addWidget(QLabel("Past tasks"))
        column.addWidget(self.past)
        self.start_button.clicked.connect(self._start)
        self.task.returnPressed.connect(self._start)
        self.stop_button.clicked.connect(self.sig_stop)
        self.consent.sig_answered.connect(self.sig_answered)

    def _start(self) -> None:
        task = self.task.text().strip()
        if task and self.start_button.isEnabled():
            self.sig_start.emit(task)

    def set_hotkey(self, combo: str) -> None:
        self.hotkey.setText(f"Emergency stop: {combo.replace('<', '').replace('>', '')}")

    def task_started(self) -> None:
        self.steps.clear()
        self.rows.clear()
        self.consent.clear()
        self.ending.setText("Running…")
        self.ending.setStyleSheet("")
        self.start_button.setEnabled(False)
        self.task.setEnabled(False)
        self.stop_button.setEnabled(True)

    def show_step(self, step: Step) -> None:
        """Add the step's row, or rewrite it when the step changed."""
        item = self.rows.get(step.index)
        if item is None:
            item = self.rows[step.index] = QListWidgetItem()
            self.steps.addItem(item)
        pixmap = QPixmap()
        if step.thumbnail and pixmap.loadFromData(step.thumbnail):
            item.setIcon(QIcon(pixmap))
        item.setText(step_words(step))
        item.setData(Qt.ItemDataRole.UserRole, step)
        self.steps.scrollToItem(item)

    def ask(self, question: ConsentQuestion) -> None:
        self.consent.ask(question)

    def task_ended(self, ended: TaskEnded) -> None:
        self.consent.clear()
        self.show_notice(ending_words(ended.ending, ended.message), error=ended.ending not in ("done", "stopped"))
        self.start_button.setEnabled(True)
        self.task.setEnabled(True)
        self.stop_button.setEnabled(False)

    def show_notice(self, text: str, *, error: bool = False) -> None:
        self.ending.setText(text)
        self.ending.setStyleSheet("color:#b91c1c" if error else "")

    def show_history(self, tasks: list[AgentTaskRecord]) -> None:
        self.past.clear()
        for t in tasks[:50]:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(t.started))
            self.past.addItem(f"{when}  {t.task[:80]} — {ending_words(t.ending, t.message)}")
