"""The emergency stop hotkey on the shared Xvfb (started with +extension RECORD, which pynput's X11
listener needs): `xdotool key` sends the chord, as a keyboard would, to the focused target window
(target_app.py), and the callback fires on pynput's thread. Combos are checked before pynput runs."""

import threading

import pytest

from core.desktop.hotkey import DEFAULT_COMBO, EmergencyStop, HotkeyUnavailable, parse_combo
from tests.agent.target import TargetApp
from tests.xdesktop import run_x, wait_for, xvfb_desktop


@pytest.fixture(scope="module")
def target(desktop):
    with TargetApp() as app:
        yield app


def press(desktop, chord):
    run_x("xdotool", "key", "--clearmodifiers", chord, display=desktop)


def test_the_default_chord_fires_while_another_window_has_the_focus(target, desktop):
    target.ask("reset")
    wait_for(lambda: target.state()["active"], what="the target window to be active")
    fired = threading.Event()
    with EmergencyStop(on_press=fired.set) as stop:
        assert stop.running and stop.combo == DEFAULT_COMBO
        press(desktop, "ctrl+alt+End")
        assert fired.wait(15)
    assert not stop.running


def test_other_keys_do_not_fire_and_a_custom_chord_does(target, desktop):
    calls = []
    with EmergencyStop("<CTRL>+<Shift>+K", on_press=lambda: calls.append(1)) as stop:
        assert stop.combo == "<ctrl>+<shift>+k"
        press(desktop, "ctrl+k")
        press(desktop, "shift+k")
        press(desktop, "ctrl+shift+k")
        wait_for(lambda: calls, what="the chord")  # the listener hears events in order
        assert calls == [1]


def test_a_failing_callback_does_not_end_listening(target, desktop):
    calls = []

    def flaky():
        calls.append(1)
        raise RuntimeError("the callback broke")

    with EmergencyStop(on_press=flaky) as stop:
        press(desktop, "ctrl+alt+End")
        wait_for(lambda: len(calls) == 1, what="the first press")
        press(desktop, "ctrl+alt+End")
        wait_for(lambda: len(calls) == 2, what="the second press")
        assert stop.running


def test_stop_is_idempotent_start_twice_is_one_listener_and_its_thread_ends(desktop):
    stop = EmergencyStop(on_press=lambda: None)
    stop.start()
    thread = stop._listener
    stop.start()
    assert stop.running and stop._listener is thread
    stop.stop()
    stop.stop()
    assert not stop.running and not thread.is_alive()  # pynput alone would wait for the next key event


def test_an_x_server_without_record_is_named_as_the_reason(desktop):
    with xvfb_desktop(record=False), pytest.raises(HotkeyUnavailable, match=r"RECORD extension.*\+extension RECORD"):
        EmergencyStop(on_press=lambda: None).start()


@pytest.mark.parametrize(
    ("combo", "message"),
    [
        ("", "empty part"),
        ("ctrl+alt+end", "'ctrl' is not a key"),
        ("<ctrl>++x", "empty part"),
        ("<ctrl>+<hyper>+x", "'<hyper>' is not a key"),
        ("<ctrl>+<ctrl>+x", "names a key twice"),
        ("<shift>+x", "modifier other than shift"),
        ("x", "modifier other than shift"),
        ("<ctrl>+<alt>", "exactly one key besides the modifiers, not 0"),
        ("<ctrl>+x+y", "exactly one key besides the modifiers, not 2"),
    ],
)
def test_bad_combos_are_refused_with_the_reason(combo, message):
    with pytest.raises(ValueError, match=message) as error:
        parse_combo(combo)
    assert DEFAULT_COMBO in str(error.value)
    with pytest.raises(ValueError):
        EmergencyStop(combo, on_press=lambda: None)
