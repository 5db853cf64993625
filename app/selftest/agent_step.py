"""The self-test's agent step: one real look at the screen, one scripted `computer` call, the real
policy, and nothing executed (AgentConfig.dry_run).

The "model" is a few lines that answer a click at a point on the screen, so the check does not
depend on what a random model says. Consent answers "once", so the step reaches the executor's
door and the dry run stops it there; the real executor is wrapped, and a `perform` call fails the
check.
"""

from __future__ import annotations

from core.agent.look import LiveDesktop
from core.agent.loop import Agent, AgentConfig
from core.desktop.input import Executor
from core.engine import EngineInfo
from core.engine.remote import ServerPlan
from core.events import Finished, ToolCall, Usage


class OneClick:
    """An engine (the Engine protocol) whose only reply is a click at `point`."""

    state = "ready"

    def __init__(self, point: tuple[int, int]) -> None:
        self.point = point

    def load(self, on_progress=None) -> None:
        self.state = "ready"

    def info(self) -> EngineInfo:
        return EngineInfo("selftest", "one scripted click", 8192, ServerPlan())

    def count_tokens(self, messages, options=None) -> int:
        return 1

    def generate(self, messages, options=None):
        yield ToolCall("computer", {"action": "click", "coordinate": list(self.point)})
        yield Usage(1, 1)
        yield Finished("stop")

    def cancel(self) -> None:
        pass

    def close(self) -> None:
        self.state = "closed"


class AllowOnce:
    def ask(self, request) -> str:
        return "once"

    def cancel(self) -> None:
        pass


class Watched:
    """The real executor, with every `perform` counted (a dry run must make none)."""

    def __init__(self) -> None:
        self.real, self.performed = Executor(), 0

    def perform(self, action) -> None:
        self.performed += 1
        raise RuntimeError("the dry run executed an action")

    def release(self) -> None:
        self.real.release()

    def stop(self) -> None:
        self.real.stop()

    def reset(self) -> None:
        self.real.reset()


def dry_run_step(point: tuple[int, int] = (40, 40)) -> str:
    """Run one step; return what happened, or raise AssertionError saying what went wrong."""
    executor = Watched()
    agent = Agent(
        OneClick(point),
        executor,
        consent=AllowOnce(),
        desktop=LiveDesktop(),
        config=AgentConfig(dry_run=True, max_steps=1),
    )
    events = list(agent.run("click the window"))
    steps = [e for e in events if hasattr(e, "outcome")]
    assert steps, f"the agent took no step: {events[-1]}"
    last = steps[-1]
    assert last.outcome == "dry_run", f"the step ended {last.outcome!r}: {last.detail}"
    assert executor.performed == 0, "an action was executed"
    assert last.action is not None and last.verdict is not None
    point = last.action.point
    where = f"{point.x:.0f},{point.y:.0f}" if point else "?"
    return f"{last.action.kind} at {where}: policy {last.verdict.decision} ({last.verdict.tier}), not executed"
