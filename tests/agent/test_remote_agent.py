"""The agent through a remote server: the remote engine (core/engine/remote.py) talks to
`spyglass serve` over loopback, behind which a scripted model answers with `computer` tool calls.
The screenshot crosses as a data URI, the tool definition reaches the far model, its tool calls
come back over HTTP, and the click lands on the real target window on the two-monitor Xvfb."""

import pytest

from core.agent.loop import Agent
from core.engine.remote import RemoteEngine
from core.events import ToolCall
from core.server import create_app
from core.settings import Settings
from tests.agent.scripted import ScriptedEngine
from tests.agent.target import TargetApp
from tests.agent.test_on_screen import Answers, Recording, run, seen
from tests.server.harness import TOKEN, running

pytestmark = pytest.mark.timeout(120)
DESKTOP = (0, 0, 2304, 800)  # the whole two-monitor desktop the agent captures; geometry does not cross HTTP


def click_at(app, name):
    def reply(messages):
        _, w, h = seen(messages)  # the far side sees only the pixels: map with the known desktop
        x, y = app.center(name)
        return [ToolCall("computer", {"action": "click", "coordinate": [round(x * w / DESKTOP[2]), round(y * h / DESKTOP[3])]})]

    return reply


def test_a_remote_model_clicks_through_spyglass_serve(desktop):
    with TargetApp() as app:
        far = ScriptedEngine([click_at(app, "button"), {"tool": {"action": "done", "text": "clicked"}}])
        with running(create_app(far, settings=Settings(), token=TOKEN)) as url:
            engine = RemoteEngine(base_url=url + "/v1", api_key=TOKEN, context_tokens=32768)
            engine.load()
            try:
                steps, ending = run(Agent(engine, Recording(), consent=Answers("once")))
            finally:
                engine.close()
        assert ending.ending == "done" and [s.outcome for s in steps] == ["executed", "done"]
        assert app.state()["clicks"] == 1
        image, w, h = seen(far.prompts[0])
        assert (w, h) == (1280, 444)  # our resize of the 2304x800 desktop, pixel for pixel over HTTP
        assert far.options[0].tools[0]["function"]["name"] == "computer"
