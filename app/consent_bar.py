"""The bar that asks the user whether the agent may do what it proposes.

It shows the step, the action in words, the screenshot with the marker where it lands, and the
reasons plainly: why an action is dangerous, or that the agent wants to use the mouse or keyboard.
Only the answers the question offers get a button: a dangerous action has no "Allow for this task"
(SAFETY.md: it asks every time). A click answers once and hides the bar; the window passes the
answer to the waiting agent with the question's id.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.agent_consent import ConsentQuestion
from core.agent.loop import describe

BUTTONS = (("once", "Allow once"), ("task", "Allow for this task"), ("deny", "Deny"))
THUMB_HEIGHT = 120


def question_words(question: ConsentQuestion) -> tuple[str, str]:
    """(what the agent wants to do, why it asks), in plain words."""
    r = question.request
    what = f"Step {r.step}: the agent wants to {describe(r.action)}."
    if r.verdict.tier == "dangerous":
        why = "This looks dangerous, so it asks every time: " + "; ".join(r.verdict.reasons) + "."
    else:
        why = "It will use your mouse or keyboard. Allow it once, for the rest of this task, or deny it."
    return what, why


class ConsentBar(QFrame):
    sig_answered = Signal(int, str)
    """(question id, answer): the user chose one of steps.ANSWERS for this question."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("consentBar")
        self.setStyleSheet("#consentBar { background:#fef3c7; border:1px solid #d97706; border-radius:6px; }")
        self.question: ConsentQuestion | None = None
        self.thumb = QLabel()
        self.what = QLabel(wordWrap=True)
        self.what.setStyleSheet("font-weight:bold")
        self.why = QLabel(wordWrap=True)
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        row.addStretch(1)
        for answer, label in BUTTONS:
            button = QPushButton(label)
            button.clicked.connect(lambda _=False, a=answer: self._answered(a))
            self.buttons[answer] = button
            row.addWidget(button)
        text = QVBoxLayout()
        text.addWidget(self.what)
        text.addWidget(self.why)
        text.addLayout(row)
        layout = QHBoxLayout(self)
        layout.addWidget(self.thumb, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(text, 1)
        self.hide()

    def ask(self, question: ConsentQuestion) -> None:
        self.question = question
        what, why = question_words(question)
        self.what.setText(what)
        self.why.setText(why)
        self.why.setStyleSheet("color:#b91c1c" if question.request.verdict.tier == "dangerous" else "")
        pixmap = QPixmap()
        if question.request.thumbnail and pixmap.loadFromData(question.request.thumbnail):
            pixmap = pixmap.scaledToHeight(THUMB_HEIGHT, Qt.TransformationMode.SmoothTransformation)
        self.thumb.setPixmap(pixmap)
        for answer, button in self.buttons.items():
            button.setVisible(answer in question.choices)
        self.show()
        self.buttons["deny"].setFocus()

    def offered(self) -> tuple[str, ...]:
        """The answers the bar offers now."""
        return tuple(a for a, b in self.buttons.items() if not b.isHidden()) if self.question else ()

    def clear(self) -> None:
        self.question = None
        self.hide()

    def _answered(self, answer: str) -> None:
        question = self.question
        self.clear()
        if question is not None:
            self.sig_answered.emit(question.question_id, answer)
