"""The agent's plain data: what the parsers, the policy, the loop, the window and the store share.

A `Rejected` is model output that is not an action (shown, never executed). A `Verdict` is the
policy's answer for one action: run it, ask the user first, refuse it, or re-plan because the
screen moved on. The loop asks a `Consent` (the window's buttons, a terminal's y/N) and, when no one
can answer, the answer is no (SAFETY.md: fail closed). A `Step` is one step as the user sees it,
yielded again each time it changes; `TaskEnded` closes the stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.desktop.actions import Action

DECISIONS = ("run", "ask", "refuse", "replan")
TIERS = ("observe", "act", "dangerous")
ANSWERS = ("once", "task", "deny")  # allow this action / allow act actions for the rest of the task / no
OUTCOMES = (
    "proposed",  # parsed and judged, not yet run
    "executed",
    "denied",  # the user said no, or no one could be asked
    "refused",  # the policy said no
    "replanned",  # predicted on a screenshot the screen no longer shows
    "malformed",  # the model's output was not an action
    "failed",  # the executor raised
    "done",  # the model said the task is finished
    "gave_up",  # the model said it cannot do the task (a `fail` action)
    "cancelled",
    "dry_run",  # allowed, but the task runs without executing anything
)
ENDINGS = ("done", "gave_up", "stopped", "step_cap", "error", "denied")


@dataclass(frozen=True)
class Rejected:
    raw: str  # the model's output as it came, for the user to see
    reason: str  # why it is not an action


@dataclass(frozen=True)
class Verdict:
    decision: str  # one of DECISIONS
    tier: str  # one of TIERS
    reasons: tuple[str, ...] = ()  # why it is dangerous, refused or stale; shown to the user

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS or self.tier not in TIERS:
            raise ValueError(f"verdict {self.decision!r}/{self.tier!r} is not one of {DECISIONS} x {TIERS}")


@dataclass(frozen=True)
class ConsentRequest:
    task: str
    step: int
    action: Action  # in screen space
    verdict: Verdict  # decision "ask"; tier and reasons say why
    thumbnail: bytes = b""  # PNG of the screenshot with a marker where the action lands


class Consent(Protocol):
    def ask(self, request: ConsentRequest) -> str:
        """One of ANSWERS; blocks until the user answers. Raising, or returning anything else,
        counts as "deny"."""
        ...

    def cancel(self) -> None:
        """Called from another thread when the task stops: a pending `ask` returns "deny" at once."""
        ...


@dataclass(frozen=True)
class Step:
    index: int  # 1-based
    time: float  # time.time() when the step's screenshot was taken
    screenshot_id: str
    outcome: str  # one of OUTCOMES
    action: Action | None = None  # in screen space; None when the output was malformed
    model_action: Action | None = None  # as parsed, in the model's space
    rejected: Rejected | None = None
    verdict: Verdict | None = None
    detail: str = ""  # the executor's error, the user's answer, the model's summary
    thumbnail: bytes = b""  # PNG, the action marked on the screenshot


@dataclass(frozen=True)
class TaskEnded:
    ending: str  # one of ENDINGS
    message: str
    steps: int
