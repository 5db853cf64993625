"""A scripted engine for agent tests: it speaks the Engine protocol and answers each step with the
next reply of a script, so a test decides exactly what the "model" asks for.

A reply is a tool call (`{"tool": {...arguments...}}`), text (`{"text": "Action: click(...)"}`), or
a callable `reply(messages) -> list[Event]` (for hooks such as changing the screen mid-call). The
engine keeps every prompt it was sent (to check what the model saw) and honours `cancel` between
events; `pace` seconds pass before each event, as a slow model's tokens would. Registered as the
`script` backend for `.agentscript` files (a JSON list of replies), so `spyglass act` can run it
in a child process (`import tests.agent.scripted` first).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from core.engine import Backend, EngineInfo, register
from core.engine.remote import ServerPlan
from core.events import Finished, TextDelta, ToolCall, Usage


class ScriptedEngine:
    def __init__(self, replies=(), *, pace: float = 0.0, settings=None) -> None:
        if settings is not None:  # opened by the registry from a .agentscript file
            replies = json.loads(Path(settings.model_dir).read_text())
        self.replies, self.pace = list(replies), pace
        self.state, self.error = "idle", None
        self.prompts: list = []
        self.options: list = []
        self.cancelled = 0
        self._cancel = threading.Event()

    def load(self, on_progress=None) -> None:
        self.state = "ready"

    def info(self) -> EngineInfo:
        return EngineInfo("script", "scripted agent model", 32768, ServerPlan())  # reads images, any size

    def count_tokens(self, messages, options=None) -> int:
        return 1

    def generate(self, messages, options=None):
        self._cancel.clear()
        self.prompts.append(messages)
        self.options.append(options)
        reply = self.replies.pop(0) if self.replies else {"tool": {"action": "fail", "text": "the script ran out"}}
        if callable(reply):
            events = list(reply(messages))
        elif "tool" in reply:
            events = [ToolCall("computer", reply["tool"])]
        else:
            events = [TextDelta(reply["text"])]
        for event in [*events, Usage(10, 5), Finished("stop")]:
            if self._cancel.wait(self.pace) if self.pace else self._cancel.is_set():
                self.cancelled += 1
                yield Finished("cancelled")
                return
            yield event

    def cancel(self) -> None:
        self._cancel.set()

    def close(self) -> None:
        self.state = "closed"


def _from_settings(settings) -> ScriptedEngine:
    return ScriptedEngine(settings=settings)


SCRIPT = register(Backend("script", "Scripted agent (tests)", "tests.agent.scripted:_from_settings",
                          lambda path: "an .agentscript file" if path.suffix == ".agentscript" else None))
