"""The agent on the real GGUF engine: the tiny random M3 with its vision projector sees the real
screen (a monitor of the shared Xvfb) through llama.cpp's mtmd, with the `computer` tool in its
template. A random model answers nonsense, so every step is malformed: shown, never executed, and
the task ends after three. That is the plumbing a GUI-grounded GGUF model (UI-TARS, Qwen-VL) runs on."""

import pytest

from core.agent.loop import Agent
from core.agent.look import LiveDesktop
from core.engine import GenerateOptions
from core.engine.gguf import GgufEngine
from tests.agent.test_on_screen import Recording, run

pytestmark = pytest.mark.timeout(300)


def test_the_agent_runs_on_a_gguf_model_with_a_projector(desktop, m3_vision_gguf):
    with GgufEngine(m3_vision_gguf, context_tokens=4096) as engine:
        engine.load()
        executor = Recording()
        agent = Agent(engine, executor, consent=None, desktop=LiveDesktop(monitor=2),
                      options=GenerateOptions(max_tokens=12))
        steps, ending = run(agent, "click the button")
    assert ending.ending == "error" and "not an action 3 times" in ending.message, ending
    assert [s.outcome for s in steps] == ["malformed"] * 3 and executor.performed == []
    assert all(s.rejected is not None and s.thumbnail for s in steps)
