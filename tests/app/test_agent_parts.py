"""The agent panel's thread-crossing parts on their own: QtConsent answers across threads (stale
answers ignored, "task" never granted to a dangerous action, cancel answers no at once and for
good), AgentHandle keeps a Stop that comes before the Agent exists and builds no Agent without an
emergency stop, and our window's rectangle
maps from Qt's logical coordinates to desktop pixels about the screen's origin.
"""

import threading

import pytest

from app.agent_consent import QtConsent
from app.agent_handle import AgentHandle, NoEmergencyStop
from app.own_windows import to_desktop
from core.agent.steps import ConsentRequest, Verdict
from core.desktop.actions import Action, Point
from tests.app.agent_fakes import BrokenHotkey, FakeHotkey

ACT = Verdict("ask", "act")
DANGEROUS = Verdict("ask", "dangerous", ("ctrl+alt+t is a system key chord",))


def request(verdict):
    return ConsentRequest("task", 1, Action("click", "shot-1", point=Point(10, 10, "screen")), verdict)


def ask_in_thread(consent, verdict):
    out = []
    thread = threading.Thread(target=lambda: out.append(consent.ask(request(verdict))))
    thread.start()
    return thread, out


def pending(qtbot, consent):
    qtbot.waitUntil(lambda: consent.pending is not None, timeout=5000)
    return consent.pending


@pytest.mark.parametrize(
    "verdict, given, got",
    [(ACT, "task", "task"), (ACT, "once", "once"), (DANGEROUS, "task", "once"), (DANGEROUS, "maybe", "deny")],
)
def test_the_answer_reaches_the_asking_thread(qtbot, verdict, given, got):
    consent = QtConsent()
    thread, out = ask_in_thread(consent, verdict)
    question = pending(qtbot, consent)
    assert question.choices == (("once", "deny") if verdict is DANGEROUS else ("once", "task", "deny"))
    assert not consent.answer(question.question_id + 1, "once")  # a stale click answers nothing
    assert consent.answer(question.question_id, given)
    thread.join(5)
    assert out == [got] and consent.pending is None


def test_cancel_answers_no_now_and_to_every_later_question(qtbot):
    consent = QtConsent()
    thread, out = ask_in_thread(consent, ACT)
    question = pending(qtbot, consent)
    consent.cancel()
    thread.join(5)
    assert out == ["deny"] and not consent.answer(question.question_id, "once")
    assert consent.ask(request(ACT)) == "deny" and consent.asked == 1


def test_a_stop_before_the_agent_exists_stops_it_when_attached_and_finish_lets_the_hotkey_go():
    stopped = []

    class Agent:
        def stop(self):
            stopped.append(True)

    handle = AgentHandle(lambda engine: Agent(), lambda on_press: FakeHotkey("<ctrl>+<alt>+<end>", on_press))
    handle.stop()
    assert handle.stopped and stopped == []
    handle.attach(object())
    hotkey = handle.hotkey
    assert stopped == [True] and hotkey.running and hotkey.on_press == handle.stop
    handle.stop()
    handle.finish()
    assert stopped == [True, True] and not hotkey.running and handle.finished.is_set()


def test_a_hotkey_that_cannot_start_means_no_agent():
    made = []
    handle = AgentHandle(lambda engine: made.append(engine), lambda on_press: BrokenHotkey("<end>", on_press))
    with pytest.raises(NoEmergencyStop, match="could not be registered: no X display"):
        handle.attach(object())
    assert made == []


@pytest.mark.parametrize(
    "rect, origin, ratio, expected",
    [
        ((10, 20, 300, 200), (0, 0), 1.0, (10, 20, 300, 200)),
        ((10, 20, 300, 200), (0, 0), 2.0, (20, 40, 600, 400)),  # logical x ratio on the primary screen
        ((1930, 20, 300, 200), (1920, 0), 2.0, (1940, 40, 600, 400)),  # scaled about the screen's origin
        ((10.5, 0, 100.25, 50), (0, 0), 1.5, (15, 0, 152, 75)),  # widened to whole pixels
    ],
)
def test_window_rectangles_map_to_desktop_pixels(rect, origin, ratio, expected):
    assert to_desktop(rect, origin, ratio) == expected
