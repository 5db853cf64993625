"""The agent on our own MSA runtime: the tiny random M3 with its vision tower (CPU, fp32) sees a
monitor of the shared Xvfb, resized by the engine's own plan (so the model's image size is exactly
what the tower takes), with the `computer` tool in the M3 template. A random model answers
nonsense: every step is malformed, shown and never executed."""

import pytest
import torch

from core.agent.loop import Agent, AgentConfig
from core.agent.look import LiveDesktop
from core.engine import GenerateOptions
from core.engine.msa import MsaEngine
from core.messages import ImagePart
from tests.agent.test_on_screen import Recording, run

pytestmark = pytest.mark.timeout(300)


def test_the_agent_runs_on_the_msa_runtime(desktop, tiny_vl_dir):
    engine = MsaEngine(tiny_vl_dir, device="cpu", dtype=torch.float32)
    engine.load()
    sizes, generate = [], engine.generate

    def recording(messages, options):
        sizes.extend(p.pixels.shape[:2] for m in messages for p in m.parts if isinstance(p, ImagePart))
        return generate(messages, options)

    engine.generate = recording
    expected = engine.info().media.image_size(768, 1024)  # the tower's own resize of monitor 2
    try:
        executor = Recording()
        agent = Agent(engine, executor, consent=None, desktop=LiveDesktop(monitor=2),
                      options=GenerateOptions(max_tokens=8), config=AgentConfig(max_malformed=2))
        steps, ending = run(agent, "click the button")
    finally:
        engine.close()
    assert ending.ending == "error" and [s.outcome for s in steps] == ["malformed"] * 2
    assert executor.performed == []
    assert sizes == [expected, expected]  # shown at the size the tower takes: not resized again
