"""The Agent tab on a real window: the real Agent over a ScriptedEngine on the engine worker, a
generated screen and an executor that records (tests/app/agent_fakes.py). Steps show the action in
words and the verdict; act actions ask; once, for this task and deny do what they say; dangerous
actions ask every time without "for this task"; Stop, the emergency hotkey and closing the window
end the task with nothing more executed; every step lands in the history; our window is excluded
from every capture.
"""

import sqlite3

import pytest
from PySide6.QtCore import Qt

from app.own_windows import window_rect
from core.events import TextDelta, ToolCall
from tests.agent.scripted import ScriptedEngine
from tests.app.agent_fakes import LEFT, BrokenHotkey, FakeDesktop, FakeHotkey, RecordingExecutor
from tests.app.fake_engine import FakeEngine
from tests.app.test_window import send

CLICK = {"tool": {"action": "click", "coordinate": [100, 200]}}
CLICK2 = {"tool": {"action": "click", "coordinate": [300, 400]}}
TYPE = {"tool": {"action": "type", "text": "hello"}}
CHORD = {"tool": {"action": "hotkey", "keys": ["ctrl", "alt", "t"]}}
SHELL = {"tool": {"action": "type", "text": "rm -rf ~"}}
DONE = {"tool": {"action": "done", "text": "all done"}}


@pytest.fixture
def agent(make_window, qtbot):
    def make(replies, *, pace=0.0, hotkey=FakeHotkey, engine=None):
        engine = engine or ScriptedEngine(replies, pace=pace)
        window = make_window(engine)
        desk, executor = FakeDesktop(), RecordingExecutor()
        window.agent.make_desktop = lambda settings: desk
        window.agent.make_executor = lambda: executor
        window.agent.make_hotkey = hotkey
        window.show_agent()
        return window, engine, desk, executor

    return make


def start(qtbot, window, task="open the menu"):
    window.agent_panel.task.setText(task)
    qtbot.mouseClick(window.agent_panel.start_button, Qt.MouseButton.LeftButton)


def asked(qtbot, window, step):
    bar = window.agent_panel.consent
    qtbot.waitUntil(lambda: bar.question is not None and bar.question.request.step == step, timeout=5000)
    return bar


def answer(qtbot, window, step, choice):
    bar = asked(qtbot, window, step)
    qtbot.mouseClick(bar.buttons[choice], Qt.MouseButton.LeftButton)


def ended(qtbot, window):
    qtbot.waitUntil(lambda: not window.agent.running, timeout=10000)
    return window.store.agent_tasks()[0]


def rows(window):
    return [window.agent_panel.steps.item(i).text() for i in range(window.agent_panel.steps.count())]


def test_allow_once_runs_one_action_and_the_next_asks_again(agent, qtbot):
    window, _, _, executor = agent([CLICK, CLICK2, DONE])
    start(qtbot, window)
    assert window.agent_panel.stop_button.isEnabled() and not window.agent_panel.start_button.isEnabled()
    bar = asked(qtbot, window, 1)
    assert bar.offered() == ("once", "task", "deny") and "click at" in bar.what.text()
    assert rows(window) == [f"1. click at ({LEFT + 100}, 200)\nact, asks first\nproposed"]
    qtbot.mouseClick(bar.buttons["once"], Qt.MouseButton.LeftButton)
    asked(qtbot, window, 2)
    assert len(executor.performed) == 1 and executor.performed[0].point.x == LEFT + 100
    assert rows(window)[0] == f"1. click at ({LEFT + 100}, 200)\nact, asks first\nexecuted"
    answer(qtbot, window, 2, "deny")
    record = ended(qtbot, window)
    assert len(executor.performed) == 1 and record.ending == "denied"
    assert rows(window)[1].endswith("denied: the user said no")
    assert window.agent_panel.ending.text().startswith("Ended: not allowed")
    assert window.agent_panel.start_button.isEnabled() and not window.agent_panel.stop_button.isEnabled()


def test_allow_for_this_task_runs_the_rest_without_asking(agent, qtbot):
    window, _, _, executor = agent([CLICK, CLICK2, TYPE, DONE])
    start(qtbot, window)
    consent = window.agent.consent
    answer(qtbot, window, 1, "task")
    record = ended(qtbot, window)
    assert [a.kind for a in executor.performed] == ["click", "click", "type"] and consent.asked == 1
    assert (record.ending, record.message) == ("done", "all done")
    assert rows(window)[3].startswith("4. done") and window.agent_panel.ending.text() == "Done: all done"


@pytest.mark.parametrize(
    "dangerous, why", [(CHORD, "ctrl+alt+t is a system key chord"), (SHELL, "the text looks like a shell command")]
)
def test_a_dangerous_action_asks_even_after_allow_for_this_task_and_never_offers_it(agent, qtbot, dangerous, why):
    window, _, _, executor = agent([CLICK, dangerous, dangerous, DONE])
    start(qtbot, window)
    answer(qtbot, window, 1, "task")
    bar = asked(qtbot, window, 2)
    assert bar.offered() == ("once", "deny") and bar.buttons["task"].isHidden()
    assert why in bar.why.text() and "asks every time" in bar.why.text()
    assert "dangerous, asks first: " + why in rows(window)[1]
    qtbot.mouseClick(bar.buttons["once"], Qt.MouseButton.LeftButton)
    answer(qtbot, window, 3, "deny")
    assert ended(qtbot, window).ending == "denied"
    assert [a.kind for a in executor.performed] == ["click", dangerous["tool"]["action"]]


def test_deny_ends_the_task_with_nothing_executed(agent, qtbot):
    window, _, _, executor = agent([CLICK, DONE])
    start(qtbot, window)
    answer(qtbot, window, 1, "deny")
    record = ended(qtbot, window)
    assert executor.performed == [] and record.ending == "denied" and "the user said no" in record.message
    assert window.agent_panel.consent.isHidden()


def test_stop_mid_reply_cancels_the_model_and_executes_nothing(agent, qtbot):
    window, engine, _, executor = agent([CLICK, DONE], pace=0.5)
    start(qtbot, window)
    qtbot.waitUntil(lambda: len(engine.prompts) == 1, timeout=5000)
    qtbot.mouseClick(window.agent_panel.stop_button, Qt.MouseButton.LeftButton)
    record = ended(qtbot, window)
    assert record.ending == "stopped" and engine.cancelled == 1 and executor.performed == []
    assert window.agent_panel.ending.text() == "Stopped: stopped by the user"


def test_the_emergency_hotkey_runs_while_the_task_runs_and_stops_it(agent, qtbot):
    FakeHotkey.made.clear()
    window, _, _, executor = agent([CLICK, DONE])
    assert window.agent_panel.hotkey.text() == "Emergency stop: ctrl+alt+end"
    start(qtbot, window)
    asked(qtbot, window, 1)
    hotkey = FakeHotkey.made[-1]
    assert hotkey.running and hotkey.combo == window.agent.combo()
    hotkey.press()
    assert ended(qtbot, window).ending == "stopped" and executor.performed == []
    qtbot.waitUntil(lambda: not hotkey.running, timeout=5000)


def test_without_an_emergency_stop_the_task_ends_before_its_first_look(agent, qtbot):
    window, engine, desk, executor = agent([CLICK], hotkey=BrokenHotkey)
    start(qtbot, window)
    record = ended(qtbot, window)
    assert record.ending == "error" and "emergency stop hotkey could not be registered: no X display" in record.message
    assert desk.excludes == [] and engine.prompts == [] and executor.performed == []
    assert "could not be registered" in window.agent_panel.ending.text()


def test_every_step_is_in_the_history_with_its_thumbnail(agent, qtbot):
    noted = lambda messages: [TextDelta("The button is top left."), ToolCall("computer", CLICK["tool"])]
    window, _, _, _ = agent([noted, {"text": "I am not sure"}, DONE])
    start(qtbot, window, "press the button")
    answer(qtbot, window, 1, "once")
    record = ended(qtbot, window)
    assert (record.task, record.ending) == ("press the button", "done")
    steps = window.store.agent_steps(record.id)
    assert [s.outcome for s in steps] == ["executed", "malformed", "done"]
    assert steps[0].action["kind"] == "click" and steps[0].verdict["tier"] == "act"
    assert all(s.thumbnail.startswith(b"\x89PNG") for s in steps)
    assert rows(window)[0].startswith(f"1. click at ({LEFT + 100}, 200)\n“The button is top left.”\nact, asks first")
    assert rows(window)[1].startswith("2. no action: ")
    assert window.agent_panel.past.item(0).text().endswith("press the button — Done: all done")


def test_our_window_is_excluded_from_every_capture(agent, qtbot):
    window, _, desk, _ = agent([{"tool": {"action": "wait", "seconds": 0.01}}, DONE])
    start(qtbot, window)
    ended(qtbot, window)
    own = window_rect(window)
    assert own[2] > 0 and own[3] > 0 and len(desk.excludes) >= 3
    assert all(own in excluded for excluded in desk.excludes)


def test_closing_the_window_while_asked_answers_no_and_stops_the_task(agent, qtbot):
    window, _, _, executor = agent([CLICK, DONE])
    start(qtbot, window)
    asked(qtbot, window, 1)
    store = window.store
    window.close()
    assert not window.agent.running and not window.engine.thread.isRunning()
    record = store.agent_tasks()[0]
    assert (record.ending, record.message) == ("stopped", "stopped by the user") and executor.performed == []
    assert [s.outcome for s in store.agent_steps(record.id)] == ["proposed"]


def test_chat_and_agent_refuse_to_start_while_the_other_runs(agent, qtbot):
    window, _, _, _ = agent([], engine=FakeEngine(tokens=400, token_delay=0.02))
    window.pages.setCurrentIndex(0)
    send(qtbot, window, "hi")
    assert window.session.generating
    start(qtbot, window)
    assert not window.agent.running and "still streaming" in window.agent_panel.ending.text()
    window.session.stop()
    qtbot.waitUntil(lambda: not window.session.generating, timeout=5000)
    assert window.agent.start("look") and window.agent.running
    send(qtbot, window, "and now?")
    assert "An agent task is running" in window.statusBar().currentMessage()
    window.agent.stop()
    ended(qtbot, window)


def test_a_step_the_history_cannot_write_stops_the_task(agent, qtbot, monkeypatch):
    window, _, _, executor = agent([CLICK, DONE])

    def full(task_id, step):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(window.store, "save_step", full)
    start(qtbot, window)
    assert window.pages.tabText(1) == "Agent (running)"
    record = ended(qtbot, window)
    assert record.ending == "error" and "the history cannot be written (database or disk is full)" in record.message
    assert executor.performed == [] and window.pages.tabText(1) == "Agent"
    assert "disk is full" in window.agent_panel.ending.text()
