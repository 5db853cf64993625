"""One agent task's `Agent` and emergency stop, reachable from every thread that may need to stop it.

The Agent is built on the engine worker's thread, because that thread owns the engine and is the
one that runs the task; the Stop button (UI thread) and the emergency hotkey (pynput's thread) only
ever call `stop`. A stop that arrives before the Agent exists is remembered and applied the moment
it is attached, so no early Stop is lost. The global hotkey is registered there too, before the
Agent exists: arming a listener may take seconds, which the UI thread must not wait, and a task
whose hotkey cannot be registered never begins (SAFETY.md: fail closed). `finish` lets the hotkey
go and sets `finished`, whatever ended the task. No Qt here: a plain lock and an Event.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from core.agent.loop import Agent
from core.engine import Engine

log = logging.getLogger(__name__)


class Hotkey(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


AgentMaker = Callable[[Engine], Agent]
HotkeyMaker = Callable[[Callable[[], None]], Hotkey]  # on_press -> a hotkey not yet started


class NoEmergencyStop(OSError):
    """The global emergency-stop hotkey could not be registered, so the task does not run."""


class AgentHandle:
    def __init__(self, make_agent: AgentMaker, make_hotkey: HotkeyMaker) -> None:
        self._make, self._make_hotkey = make_agent, make_hotkey
        self._lock = threading.Lock()
        self._agent: Agent | None = None
        self._hotkey: Hotkey | None = None
        self._stopped = False
        self.finished = threading.Event()

    def attach(self, engine: Engine) -> Agent:
        """Register the emergency stop, then build the task's Agent over `engine` (the worker
        thread); the Agent is stopped at once if Stop came first."""
        try:
            hotkey = self._make_hotkey(self.stop)
            hotkey.start()
        except Exception as err:  # noqa: BLE001 - whatever the reason, no emergency stop means no task
            raise NoEmergencyStop(f"the emergency stop hotkey could not be registered: {err}") from err
        self._hotkey = hotkey
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

    @property
    def hotkey(self) -> Hotkey | None:
        return self._hotkey

    def finish(self) -> None:
        """The worker is done with the task (the worker thread): stop listening for the hotkey."""
        hotkey, self._hotkey = self._hotkey, None
        try:
            if hotkey is not None:
                hotkey.stop()
        except Exception:  # noqa: BLE001 - the task is over either way; the failure is logged
            log.exception("the emergency stop hotkey did not stop cleanly")
        finally:
            self.finished.set()
