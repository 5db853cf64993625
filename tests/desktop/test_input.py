"""The executor on a real X server: pyautogui's input reaches a real Qt window (target_app.py on the
second monitor of the shared two-monitor Xvfb), and what the window reports is what was meant.
Stopping is checked through the X server itself: after stop() no mouse button and no key is down.
Every wait polls the window's state with a generous timeout; nothing asserts on speed."""

import string
import threading

import pytest

from core.desktop import input as executor_module
from core.desktop.actions import Action, Point
from core.desktop.input import Executor, FailSafeTriggered, InputUnavailable, Stopped
from core.desktop.screen import held_keys, pointer_buttons
from tests.agent.target import TargetApp
from tests.agent.target_app import PAYLOAD
from tests.xdesktop import GAP, run_x, wait_for


@pytest.fixture(scope="module")
def target(desktop):
    with TargetApp() as app:
        yield app


@pytest.fixture
def app(target):
    target.ask("reset")
    wait_for(lambda: target.state()["active"], what="the target window to be active")
    return target


@pytest.fixture
def executor(desktop):
    executor = Executor()
    yield executor
    executor.release()


def at(x, y):
    return Point(x, y, "screen")


def act(kind, point=None, **fields):
    return Action(kind, "shot-1", point=point, **fields)


def click(executor, app, name, kind="click"):
    executor.perform(act(kind, at(*app.center(name))))


def state_when(app, check, what):
    return wait_for(lambda: (lambda s: s if check(s) else None)(app.state()), what=what)


def test_a_click_presses_the_button_once(app, executor):
    click(executor, app, "button")
    state_when(app, lambda s: s["clicks"] >= 1, "the click")
    assert app.state()["clicks"] == 1


def test_a_double_click_counts_two(app, executor):
    click(executor, app, "button", "double_click")
    assert state_when(app, lambda s: s["clicks"] >= 2, "two clicks")["clicks"] == 2


def test_typing_reaches_the_text_and_password_fields(app, executor):
    click(executor, app, "text")
    executor.perform(act("type", text="Hello, World 42!"))
    state_when(app, lambda s: s["text"] == "Hello, World 42!", "the typed text")
    click(executor, app, "password")
    executor.perform(act("type", text="s3cr3t-P@ss"))
    assert state_when(app, lambda s: s["password"] == "s3cr3t-P@ss", "the password")["text"] == "Hello, World 42!"


def test_every_printable_ascii_character_is_typed_as_itself(app, executor):
    text = "".join(c for c in string.printable if c.isprintable())
    click(executor, app, "text")
    executor.perform(act("type", text=text))
    state_when(app, lambda s: len(s["text"]) >= len(text), "the typed text")
    assert app.state()["text"] == text


def test_a_click_checks_the_checkbox(app, executor):
    click(executor, app, "checkbox")
    state_when(app, lambda s: s["checked"], "the checkbox to be checked")


def test_scrolling_down_and_up_moves_the_list(app, executor):
    middle = at(*app.center("list"))
    executor.perform(act("scroll", middle, amount=5))
    down = state_when(app, lambda s: s["list_scroll"] > 0, "the list to scroll down")["list_scroll"]
    executor.perform(act("scroll", middle, amount=-2))
    state_when(app, lambda s: 0 < s["list_scroll"] < down, "the list to scroll back up")
    executor.perform(act("scroll", middle, amount=3, horizontal=True))
    state_when(app, lambda s: s["list_hscroll"] > 0, "the list to scroll sideways")


def test_a_drag_drops_the_source_text_on_the_target(app, executor):
    start, end = app.center("source"), app.center("target")
    executor.perform(act("drag", at(*start), end=at(*end)))
    assert state_when(app, lambda s: s["dropped"], "the drop")["dropped"] == PAYLOAD


def test_a_hotkey_selects_all_and_typing_replaces_it(app, executor):
    click(executor, app, "text")
    executor.perform(act("type", text="old words"))
    state_when(app, lambda s: s["text"] == "old words", "the first text")
    executor.perform(act("hotkey", keys=("ctrl", "A")))
    executor.perform(act("type", text="new"))
    state_when(app, lambda s: s["text"] == "new", "the text to be replaced")


def test_a_key_press_deletes_one_character(app, executor):
    click(executor, app, "text")
    executor.perform(act("type", text="abc"))
    executor.perform(act("key", keys=("BackSpace",)))
    state_when(app, lambda s: s["text"] == "ab", "the backspace")


def in_thread(call):
    outcome = {}

    def run():
        try:
            call()
            outcome["result"] = "returned"
        except Stopped as error:
            outcome["result"] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_stop_ends_a_long_drag_and_releases_the_button(desktop, executor):
    drag = act("drag", at(200, 200), end=at(900, 600), seconds=4)
    thread, outcome = in_thread(lambda: executor.perform(drag))
    wait_for(lambda: 1 in pointer_buttons(), what="the drag to press the button")
    threading.Event().wait(0.3)
    executor.stop()
    assert 1 not in pointer_buttons() and held_keys() == set()
    thread.join(10)
    assert not thread.is_alive() and isinstance(outcome["result"], Stopped)
    assert executor.held() == ((), ())
    with pytest.raises(Stopped, match="reset"):
        executor.perform(act("move", at(300, 300)))
    executor.reset()
    executor.perform(act("move", at(300, 300)))


def test_stop_interrupts_a_wait_and_typing(app, executor):
    thread, outcome = in_thread(lambda: executor.perform(act("wait", seconds=30)))
    executor.stop()
    thread.join(10)
    assert isinstance(outcome["result"], Stopped)
    executor.reset()
    click(executor, app, "text")
    text = "x" * 2000
    thread, outcome = in_thread(lambda: executor.perform(act("type", text=text)))
    state_when(app, lambda s: len(s["text"]) >= 5, "typing to begin")
    executor.stop()
    thread.join(30)
    assert isinstance(outcome["result"], Stopped) and held_keys() == set()
    typed = app.state()["text"]
    assert 5 <= len(typed) < len(text) and set(typed) == {"x"}


def test_a_chord_is_released_in_reverse_order_even_when_a_key_fails(app, executor, monkeypatch):
    """The failing key is released too: it is marked held before pyautogui is asked to press it."""
    gui = executor_module._gui()
    real_down, real_up, released = gui.keyDown, gui.platformModule._keyUp, []

    def down(key, **kwargs):
        if key == "s":
            raise OSError("the keyboard went away")
        real_down(key, **kwargs)

    def up(key):
        released.append(key)
        real_up(key)

    monkeypatch.setattr(gui, "keyDown", down)
    monkeypatch.setattr(gui.platformModule, "_keyUp", up)
    with pytest.raises(OSError, match="went away"):
        executor.perform(act("hotkey", keys=("ctrl", "shift", "s")))
    assert released == ["s", "shift", "ctrl"] and held_keys() == set() and executor.held() == ((), ())


def test_the_fail_safe_corner_stops_the_agent(app, executor, desktop):
    run_x("xdotool", "mousemove", "0", "0", display=desktop)
    with pytest.raises(FailSafeTriggered, match="screen corner"):
        click(executor, app, "button")
    with pytest.raises(Stopped):
        click(executor, app, "button")
    run_x("xdotool", "mousemove", "600", "400", display=desktop)
    executor.reset()
    click(executor, app, "button")
    state_when(app, lambda s: s["clicks"] == 1, "the click after reset")


def test_bad_actions_are_refused_before_any_input(app, executor):
    button = app.center("button")
    refusals = [
        (act("click", Point(*button, "model")), "space 'screen'"),
        (act("click", at(*GAP)), "on no monitor"),
        (act("click", at(2303, 0)), "screen corner"),
        (act("drag", at(*button), end=at(5000, 10)), "on no monitor"),
        (act("type", text="naïve ☃"), r"'ï' \(U\+00EF\), '☃' \(U\+2603\)"),
        (act("key", keys=("hyper",)), "key 'hyper' is unknown"),
        (act("hotkey", keys=("ctrl", "Ctrl")), "each key once"),
        (act("done", text="finished"), "ends the task"),
    ]
    for action, message in refusals:
        with pytest.raises(ValueError, match=message):
            executor.perform(action)
    assert app.state()["clicks"] == 0 and executor.held() == ((), ())


def test_observe_actions_send_nothing(app, executor):
    for action in (act("screenshot"), act("cursor_position"), act("zoom", at(*app.center("button")))):
        executor.perform(action)
    assert app.state()["clicks"] == 0


def test_a_window_drawn_at_twice_the_scale_is_hit_where_it_reports(desktop, executor):
    with TargetApp("--scale", "2", at=(100, 20)) as big:
        assert big.ask("geometry")["scale"] == 2.0
        click(executor, big, "button")
        click(executor, big, "text")
        executor.perform(act("type", text="big"))
        state_when(big, lambda s: s["clicks"] == 1 and s["text"] == "big", "the click and the text")


def test_a_process_drives_the_display_pyautogui_bound_first(app, executor, monkeypatch):
    executor.perform(act("move", at(*app.center("list"))))
    monkeypatch.setenv("DISPLAY", ":999")
    with pytest.raises(InputUnavailable, match="one process drives one display"):
        executor.perform(act("move", at(*app.center("button"))))
