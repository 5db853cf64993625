"""One agent task's `Agent`, reachable from every thread that may need to stop it.

The Agent is built on the engine worker's thread, because that thread owns the engine and is the
one that runs the task; the Stop button (UI thread) and the emergency hotkey (pynput's thread) only
ever call `stop`. A stop that arrives before the Agent exists is remembered and applied the moment
it is attached, so no early Stop is lost. `finished` is set when the worker is done with the task,
whatever the reason. No Qt here: a plain lock and an Event.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from core.agent.loop import Agent
from core.engine import Engine

AgentMaker = Callable[[Engine], Agent]


class AgentHandle:
    def __init__(self, make_agent: AgentMaker) -> None:
        self._make = make_agent
        self._lock = threading.Lock()
        self._agent: Agent | None = None
        self._stopped = False
        self.finished = threading.Event()

    def attach(self, engine: Engine) -> Agent:
        """Build the task's Agent over `engine` (the worker thread); stopped at once if Stop came first."""
        agent = self._make(engine)
        with self._lock:
            self._agent, stopped = agent, self._stopped
        if stopped:
            agent.stop()
        return agent

    def stop(self) -> None:
        """End the task now (any thread): cancels the model call, the executor and a pending question."""
        with self._lock:
            self._stopped, agent = True, self._agent
        if agent is not None:
            agent.stop()

    @property
    def stopped(self) -> bool:
        return self._stopped

    def finish(self) -> None:
        """The worker is done with the task (the worker thread)."""
        self.finished.set()
