"""The window's answer to the agent's questions: `QtConsent` implements core.agent.steps.Consent.

`ask` runs on the engine worker's thread (inside `Agent.run`): it sends the question to the UI as
`sig_asked` and blocks that thread on a threading.Event until the UI thread calls `answer` (the
consent bar's buttons) or any thread calls `cancel` (Stop, the emergency hotkey, the window
closing), which answers "deny". The UI thread never waits here. Each question carries an id, so a
late click meant for an earlier question cannot answer a later one. A dangerous action is never
offered "for this task" (SAFETY.md: dangerous asks every time): its choices are once or deny, and
a "task" answer to it is taken as "once". One QtConsent serves one task; once cancelled it answers
"deny" at once to whatever is asked next.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from core.agent.steps import ANSWERS, ConsentRequest

DANGEROUS_CHOICES = ("once", "deny")


@dataclass(frozen=True)
class ConsentQuestion:
    question_id: int
    request: ConsentRequest
    choices: tuple[str, ...]  # the answers offered, a subset of steps.ANSWERS


def choices_for(request: ConsentRequest) -> tuple[str, ...]:
    """The answers to offer: a dangerous action is allowed once or not at all."""
    return DANGEROUS_CHOICES if request.verdict.tier == "dangerous" else ANSWERS


class QtConsent(QObject):
    sig_asked = Signal(object)
    """ConsentQuestion: the agent waits for the user's answer to this question."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: tuple[ConsentQuestion, threading.Event] | None = None
        self._answer = "deny"
        self._cancelled = False
        self.asked = 0  # questions asked so far

    def ask(self, request: ConsentRequest) -> str:
        """One of ANSWERS (the worker thread); blocks until the user answers or the task stops."""
        question = ConsentQuestion(next(self._ids), request, choices_for(request))
        answered = threading.Event()
        with self._lock:
            if self._cancelled:
                return "deny"
            self._pending, self._answer = (question, answered), "deny"
            self.asked += 1
        self.sig_asked.emit(question)
        answered.wait()
        with self._lock:
            self._pending = None
            return self._answer

    def answer(self, question_id: int, answer: str) -> bool:
        """The user's answer to question `question_id` (the UI thread); False when it is no longer asked."""
        with self._lock:
            if self._pending is None or self._pending[0].question_id != question_id:
                return False
            question, answered = self._pending
            if answer == "task" and "task" not in question.choices:
                answer = "once"
            self._answer = answer if answer in question.choices else "deny"
            answered.set()
            return True

    def cancel(self) -> None:
        """The task stops (any thread): a pending question is answered "deny", and so is any later one."""
        with self._lock:
            self._cancelled, self._answer = True, "deny"
            if self._pending is not None:
                self._pending[1].set()

    @property
    def pending(self) -> ConsentQuestion | None:
        with self._lock:
            return self._pending[0] if self._pending is not None else None
