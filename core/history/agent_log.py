"""Computer-use tasks in the history file (SAFETY: every executed action is logged with its time,
the screenshot it was based on and its outcome). A step is written when it is proposed and
rewritten as it changes (executed, denied, ...), each write committed on its own, so a crash
mid-task keeps every step up to the one in flight. Actions and verdicts are stored as JSON of the
plain data; the screenshot as the step's small PNG thumbnail with the action marked.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class AgentTaskRecord:
    id: int
    task: str
    model: str
    started: float
    ended: float | None
    ending: str  # "running" until TaskEnded's ending
    message: str


@dataclass(frozen=True)
class AgentStepRecord:
    step: int
    time: float
    screenshot_id: str
    action: dict  # the action in screen space as plain data ({} when the reply was not an action)
    verdict: dict
    outcome: str
    detail: str
    thumbnail: bytes | None


class AgentLog:
    """The agent's part of HistoryStore (mixed in; uses its connection and one-transaction writes)."""

    db: sqlite3.Connection
    _write: Callable[..., sqlite3.Cursor]

    def start_task(self, task: str, model: str = "") -> int:
        cursor = self._write(
            "INSERT INTO agent_tasks (task, model, started) VALUES (?, ?, ?)", (task, model, time.time())
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def save_step(self, task_id: int, step: Any) -> None:
        """Insert or rewrite step `step.index` of the task (a core.agent.steps.Step)."""
        action = asdict(step.action) if step.action is not None else {}
        if step.rejected is not None:
            action = {"rejected": step.rejected.reason, "raw": step.rejected.raw[:2000]}
        verdict = asdict(step.verdict) if step.verdict is not None else {}
        self._write(
            "INSERT INTO agent_steps (task_id, step, time, screenshot_id, action, verdict, outcome, detail, thumbnail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (task_id, step) DO UPDATE SET"
            " action = excluded.action, verdict = excluded.verdict, outcome = excluded.outcome,"
            " detail = excluded.detail, thumbnail = excluded.thumbnail",
            (
                task_id,
                step.index,
                step.time,
                step.screenshot_id,
                json.dumps(action),
                json.dumps(verdict),
                step.outcome,
                step.detail,
                step.thumbnail or None,
            ),
        )

    def end_task(self, task_id: int, ending: str, message: str) -> None:
        self._write(
            "UPDATE agent_tasks SET ended = ?, ending = ?, message = ? WHERE id = ?",
            (time.time(), ending, message, task_id),
        )

    def agent_tasks(self) -> list[AgentTaskRecord]:
        rows = self.db.execute(
            "SELECT id, task, model, started, ended, ending, message FROM agent_tasks ORDER BY id DESC"
        )
        return [AgentTaskRecord(*row) for row in rows]

    def agent_steps(self, task_id: int) -> list[AgentStepRecord]:
        rows = self.db.execute(
            "SELECT step, time, screenshot_id, action, verdict, outcome, detail, thumbnail FROM agent_steps"
            " WHERE task_id = ? ORDER BY step",
            (task_id,),
        )
        return [
            AgentStepRecord(s, t, sid, json.loads(a or "{}"), json.loads(v or "{}"), o, d, th)
            for s, t, sid, a, v, o, d, th in rows
        ]
