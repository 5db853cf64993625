"""What the desktop looks like to the agent: its monitors, whether a point is on one, which window
has the keyboard, and which mouse buttons the X server thinks are down.

Monitors come from mss (the same list `capture_screen` numbers), scale 1.0: on X11 desktop
coordinates are device pixels. A layout of different-size monitors has gaps inside its bounding
box (the 1024x768 monitor beside a 1280x800 one leaves 256x32 pixels under it), and a point there
is on no screen. The window and pointer queries are X11 only (python-xlib): `focused_window`
answers None wherever it cannot know (no X server, Wayland without XWayland, another OS) and never
raises for that; `pointer_buttons` and `held_keys` raise `NoX11` there, since the tests and the
executor use them to verify that nothing is held and a guess would hide a stuck button.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from core.desktop.capture import list_monitors

BUTTON_MASKS = {1: 1 << 8, 2: 1 << 9, 3: 1 << 10, 4: 1 << 11, 5: 1 << 12}  # X11 Button1Mask..Button5Mask


class NoX11(RuntimeError):
    """There is no X11 display to ask (another OS, Wayland only, or $DISPLAY unreachable)."""


@dataclass(frozen=True)
class Monitor:
    left: int
    top: int
    width: int
    height: int
    scale: float = 1.0  # device pixels per desktop unit

    def contains(self, x: float, y: float) -> bool:
        return self.left <= x < self.left + self.width and self.top <= y < self.top + self.height


@dataclass(frozen=True)
class WindowInfo:
    title: str
    app: str  # WM_CLASS's class part, e.g. "firefox"
    rect: tuple[int, int, int, int]  # left, top, width, height in desktop coordinates


def monitors() -> list[Monitor]:
    """The monitors, in `capture_screen(monitor=i)` order (entry i - 1 is monitor i)."""
    return [Monitor(*rect) for rect in list_monitors()]


def on_screen(x: float, y: float, screens: Sequence[Monitor]) -> bool:
    """Whether desktop point (x, y) lies on some monitor (not in a gap between them)."""
    return any(m.contains(x, y) for m in screens)


@contextmanager
def _x11(name: str | None = None) -> Iterator[Any]:
    if not sys.platform.startswith("linux"):
        raise NoX11(f"window and pointer queries need X11, which {sys.platform} does not have")
    import Xlib.display
    import Xlib.error

    try:
        display = Xlib.display.Display(name)
    except (Xlib.error.DisplayError, OSError) as error:
        raise NoX11(f"no X11 display to ask ($DISPLAY unset or unreachable): {error}") from None
    try:
        yield display
    finally:
        display.close()


def pointer_buttons(display_name: str | None = None) -> set[int]:
    """The mouse buttons (1 left, 2 middle, 3 right, 4/5 wheel) the X server ($DISPLAY unless
    named) holds down now."""
    with _x11(display_name) as display:
        mask = display.screen().root.query_pointer().mask
    return {button for button, bit in BUTTON_MASKS.items() if mask & bit}


def held_keys(display_name: str | None = None) -> set[int]:
    """The X11 keycodes the server ($DISPLAY unless named) holds down now."""
    with _x11(display_name) as display:
        keymap = display.query_keymap()
    return {8 * i + bit for i, byte in enumerate(keymap) for bit in range(8) if byte & (1 << bit)}


def focused_window() -> WindowInfo | None:
    """The window that has the keyboard: the window manager's _NET_ACTIVE_WINDOW, else the X input
    focus (or the window under the pointer when focus follows it); None when it cannot be known."""
    try:
        with _x11() as display:
            return _focused(display)
    except NoX11:
        return None


def _focused(display: Any) -> WindowInfo | None:
    import Xlib.error

    for find in (_active, _input_focus):
        try:
            window = find(display)
            window = _client(display, window) if window is not None else None
            if window is not None:
                return _describe(display, window)
        except Xlib.error.XError:
            continue  # a stale _NET_ACTIVE_WINDOW, or the window went away while we asked
    return None


def _active(display: Any) -> Any:
    root = display.screen().root
    prop = root.get_full_property(display.intern_atom("_NET_ACTIVE_WINDOW"), 0)
    if prop is None or not len(prop.value) or not prop.value[0]:
        return None
    return display.create_resource_object("window", int(prop.value[0]))


def _input_focus(display: Any) -> Any:
    from Xlib import X

    root = display.screen().root
    focus = display.get_input_focus().focus
    if isinstance(focus, int) and focus == X.PointerRoot:
        focus = root.query_pointer().child
    if isinstance(focus, int) or focus.id == root.id:
        return None  # no focus, or the root window itself
    return focus


def _client(display: Any, window: Any) -> Any:
    """`window` or its nearest ancestor that names itself (has WM_CLASS); focus often sits on a
    child window of the application's top-level."""
    root = display.screen().root.id
    while window.id != root:
        if window.get_wm_class() is not None:
            return window
        window = window.query_tree().parent
    return None


def _describe(display: Any, window: Any) -> WindowInfo:
    name = window.get_full_property(display.intern_atom("_NET_WM_NAME"), display.intern_atom("UTF8_STRING"))
    if name is not None:
        title = name.value.decode("utf-8", "replace") if isinstance(name.value, bytes) else str(name.value)
    else:
        title = window.get_wm_name() or ""
        title = title.decode("latin-1") if isinstance(title, bytes) else str(title)
    wm_class = window.get_wm_class() or ("", "")
    geometry = window.get_geometry()
    origin = display.screen().root.translate_coords(window, 0, 0)
    return WindowInfo(title, wm_class[1], (origin.x, origin.y, geometry.width, geometry.height))
