"""Monitors, the gaps between them, the focused window and the pointer's buttons on the shared
two-monitor Xvfb, with the target window (target_app.py) on the second monitor. There is no
window manager, so `focused_window` falls back to the X input focus; a decoy window named in the
root's _NET_ACTIVE_WINDOW shows that a window manager's answer wins when there is one."""

import pytest
import Xlib.display
import Xlib.X
import Xlib.Xatom

from core.desktop.screen import Monitor, NoX11, focused_window, monitors, on_screen, pointer_buttons
from tests.agent.target import TargetApp
from tests.agent.target_app import APP_NAME, TITLE
from tests.xdesktop import GAP, MONITORS, run_x, wait_for


@pytest.fixture(scope="module")
def target(desktop):
    with TargetApp() as app:
        yield app


def test_monitors_are_the_two_of_different_sizes(desktop):
    assert monitors() == [Monitor(*MONITORS[0], 1.0), Monitor(*MONITORS[1], 1.0)]


def test_the_gap_under_the_smaller_monitor_is_not_on_screen(desktop):
    screens = monitors()
    assert not on_screen(*GAP, screens)
    assert not on_screen(2303, 768, screens) and on_screen(2303, 767, screens)
    assert on_screen(0, 0, screens) and on_screen(1279.5, 799.5, screens) and on_screen(1280, 0, screens)
    assert not on_screen(-1, 10, screens) and not on_screen(2304, 10, screens) and not on_screen(10, 800, screens)


def focused_target():
    return wait_for(lambda: (lambda w: w if w and w.title == TITLE else None)(focused_window()),
                    what="the target window to have the focus")


def test_the_focused_window_is_the_target(target):
    target.ask("reset")
    left, top, width, height = target.rects()["window"]
    window = focused_target()
    assert window.app == APP_NAME and window.rect == (left, top, width, height)


def test_a_window_managers_active_window_wins_unless_it_is_gone(target):
    target.ask("reset")
    focused_target()
    display = Xlib.display.Display()
    root = display.screen().root
    decoy = root.create_window(10, 20, 300, 200, 0, Xlib.X.CopyFromParent)
    decoy.set_wm_name("Decoy editor")
    decoy.set_wm_class("decoy", "Decoy")
    active = display.intern_atom("_NET_ACTIVE_WINDOW")
    root.change_property(active, Xlib.Xatom.WINDOW, 32, [decoy.id])
    display.sync()
    try:
        window = focused_window()
        assert window is not None
        assert (window.title, window.app, window.rect) == ("Decoy editor", "Decoy", (10, 20, 300, 200))
        decoy.destroy()
        display.sync()
        assert focused_window().title == TITLE  # a stale active window: the input focus answers
    finally:
        root.delete_property(active)
        display.sync()
        display.close()
    focused_target()


def test_without_a_display_the_focus_is_unknown_and_buttons_cannot_be_read(desktop, monkeypatch):
    monkeypatch.delenv("DISPLAY")
    assert focused_window() is None
    with pytest.raises(NoX11, match="DISPLAY"):
        pointer_buttons()


def test_pointer_buttons_reads_what_the_server_holds(desktop):
    run_x("xdotool", "mousemove", "300", "300", "mousedown", "1", display=desktop)
    try:
        assert pointer_buttons() == {1}
    finally:
        run_x("xdotool", "mouseup", "1", display=desktop)
    assert pointer_buttons() == set()
