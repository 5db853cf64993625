"""The executor: carries out one agent `Action` with pyautogui (BSD) as real mouse and keyboard input.

It receives actions already converted to space "screen" and judged by the policy; it still refuses
points on no monitor and on pyautogui's fail-safe corners. Everything it presses is tracked, so
`release()` and `stop()` (any thread) let go of held buttons and keys, and a drag, wait or typing
stops at its next small step. pyautogui binds to $DISPLAY when first imported, so it is imported
at the first action and a process drives one display. mouseinfo (GPLv3) comes with pyautogui,
which imports it eagerly inside try/except ImportError; it is kept out of the process here and
packaging can leave it out. On Linux pyautogui talks to X11 through python-xlib (LGPL-2.1+).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from core.desktop.actions import END, Action, Point
from core.desktop.keymap import align_pyautogui
from core.desktop.screen import Monitor, monitors, on_screen, pointer_buttons

log = logging.getLogger(__name__)

PAUSE = 0.01  # pyautogui sleeps this after each call, so the app has handled one input before the next
STEP_SECONDS = 0.02  # the grain at which drags, waits and typing notice stop()
DRAG_SECONDS = 0.3  # a drag's duration when the action gives none
TYPE_INTERVAL = 0.01  # between typed characters
BUTTONS = {"left": 1, "right": 3}
KEY_ALIASES = {
    "control": "ctrl",
    "page_up": "pageup",
    "page_down": "pagedown",
    "spacebar": "space",
    "arrowup": "up",
    "arrowdown": "down",
    "arrowleft": "left",
    "arrowright": "right",
}
SUPER_NAMES = ("super", "meta", "cmd", "command", "win")
FAILSAFE_MESSAGE = "the mouse was moved to a screen corner: pyautogui's fail-safe stopped the agent"
STOPPED_MESSAGE = "the agent was stopped; nothing more is performed until reset()"
_CALLS = threading.RLock()  # one X connection inside pyautogui: calls into it never overlap


class InputError(RuntimeError):
    """Input could not be sent or released."""


class InputUnavailable(InputError):
    """There is no display to send input to (no $DISPLAY, an unsupported platform)."""


class Stopped(InputError):
    """stop() was called (or the fail-safe tripped); perform() refuses until reset()."""


class FailSafeTriggered(Stopped):
    """The user moved the mouse into a screen corner: pyautogui's fail-safe."""


class _Pyautogui:
    module: Any = None
    display = ""


def _gui() -> Any:
    """pyautogui, imported on first use with our settings; refuses a $DISPLAY other than the bound one."""
    with _CALLS:
        if _Pyautogui.module is None:
            _Pyautogui.module, _Pyautogui.display = _import(), os.environ.get("DISPLAY", "")
        elif sys.platform.startswith("linux") and os.environ.get("DISPLAY", "") != _Pyautogui.display:
            raise InputUnavailable(
                f"pyautogui is bound to display {_Pyautogui.display!r}, not $DISPLAY={os.environ.get('DISPLAY')!r}: "
                "one process drives one display"
            )
        return _Pyautogui.module


def _import() -> Any:
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        raise InputUnavailable("no $DISPLAY: input needs an X11 session (on Wayland, XWayland windows only)")
    failures: tuple[type[BaseException], ...] = (ImportError, NotImplementedError, OSError)
    if sys.platform.startswith("linux"):
        import Xlib.error

        failures += (Xlib.error.DisplayError,)
    sys.modules.setdefault("mouseinfo", None)  # type: ignore[arg-type]  # pyautogui's import of it fails cleanly
    try:
        import pyautogui
    except failures as error:
        raise InputUnavailable(f"pyautogui cannot drive display {os.environ.get('DISPLAY')!r}: {error}") from None
    pyautogui.FAILSAFE = True
    pyautogui.PAUSE = PAUSE
    if sys.platform.startswith("linux"):
        align_pyautogui(pyautogui)
    return pyautogui


def _key_name(gui: Any, name: str) -> str:
    """pyautogui's name for key `name` (a single letter means the key, not an upper-case letter)."""
    key = name.lower() if len(name) > 1 or name.isalpha() else name
    key = KEY_ALIASES.get(key, key)
    if key in SUPER_NAMES:
        key = "command" if sys.platform == "darwin" else "win"
    if not gui.isValidKey(key):
        raise ValueError(f"key {name!r} is unknown; use names such as enter, tab, esc, ctrl, alt, shift, f5, a")
    return key


class Executor:
    """Performs actions; `release`, `stop` and `reset` may be called from any thread.

    One action at a time: `perform` is called from one thread (the agent loop's). After it returns
    or raises, nothing it pressed is still held. A mouse thrown into a
    corner raises `FailSafeTriggered` and latches like `stop()`. Releasing goes through
    pyautogui's platform layer, below its fail-safe check, which would otherwise refuse to let go
    exactly while the mouse sits in a corner. Clicks use the physical left and right buttons.
    """

    def __init__(self, *, screens: Callable[[], Sequence[Monitor]] = monitors) -> None:
        self._screens = screens
        self._stop = threading.Event()
        self._buttons: list[str] = []
        self._keys: list[str] = []
        self._handlers: dict[str, Callable[[Any, Action], None]] = {
            "click": self._click, "double_click": self._click, "right_click": self._click, "move": self._move,
            "drag": self._drag, "scroll": self._scroll, "type": self._type, "key": self._key, "hotkey": self._hotkey,
        }  # fmt: skip

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def held(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The (buttons, keys) this executor holds down now."""
        with _CALLS:
            return tuple(self._buttons), tuple(self._keys)

    def perform(self, action: Action) -> None:
        """Carry out `action` (points in space "screen"); raises Stopped after stop(), ValueError
        for an action that cannot be performed as given, before any input is sent."""
        if self._stop.is_set():
            raise Stopped(STOPPED_MESSAGE)
        if action.kind in END:
            raise ValueError(f"a {action.kind} action ends the task; there is nothing to perform")
        if action.kind in ("cursor_position", "screenshot", "zoom"):
            return
        if action.kind == "wait":
            self._sleep(action.seconds)
            return
        gui = _gui()
        try:
            self._handlers[action.kind](gui, action)
        except gui.FailSafeException:
            self._stop.set()
            raise FailSafeTriggered(FAILSAFE_MESSAGE) from None
        finally:
            self.release()

    def release(self) -> None:
        """Let go of every key (last pressed first) and mouse button held. Idempotent."""
        with _CALLS:
            if not (self._keys or self._buttons):
                return
            platform, failures = _Pyautogui.module.platformModule, []
            while self._keys:
                failures += _attempt(platform._keyUp, self._keys.pop())
            released = []
            while self._buttons:
                released.append(button := self._buttons.pop())
                failures += _attempt(platform._mouseUp, *platform._position(), button)
            failures += self._recheck(platform, released)
        if failures:
            raise InputError(f"could not release {', '.join(failures)}; see the log")

    def _recheck(self, platform: Any, released: list[str]) -> list[str]:
        """On X11, ask the server whether a released button still reads as down, and release it again."""
        if not released or not sys.platform.startswith("linux"):
            return []
        down = pointer_buttons(_Pyautogui.display)
        stuck = [b for b in released if BUTTONS[b] in down]
        failures = []
        for button in stuck:
            log.warning("mouse button %s still read as down after release; releasing it again", button)
            failures += _attempt(platform._mouseUp, *platform._position(), button)
        return failures

    def stop(self) -> None:
        """Stop what is being performed at its next step, release everything, refuse until reset()."""
        self._stop.set()
        self.release()

    def reset(self) -> None:
        """Accept actions again after stop() or the fail-safe."""
        self._stop.clear()

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise Stopped(STOPPED_MESSAGE)

    def _step(
        self, call: Callable[..., Any], *args: Any, hold: tuple[list[str], str] | None = None, **kwargs: Any
    ) -> None:
        """One call into pyautogui, unless stopped; `hold` is marked held before the call."""
        with _CALLS:
            if self._stop.is_set():
                raise Stopped(STOPPED_MESSAGE)
            if hold is not None:
                hold[0].append(hold[1])
            call(*args, **kwargs)

    def _let_go(self, held: list[str], name: str) -> None:
        with _CALLS:
            if name in held:
                held.remove(name)

    def _xy(self, gui: Any, point: Point | None) -> tuple[int, int]:
        if point is None or point.space != "screen":
            space = point.space if point is not None else "none"
            raise ValueError(f"the executor takes points in space 'screen' (convert with Frame.convert), not {space!r}")
        x, y = math.floor(point.x + 0.5), math.floor(point.y + 0.5)
        if not on_screen(x, y, self._screens()):
            raise ValueError(f"({x}, {y}) is on no monitor")
        if (x, y) in gui.FAILSAFE_POINTS:
            raise ValueError(f"({x}, {y}) is a screen corner, where pyautogui's fail-safe would stop the agent")
        return x, y

    def _click(self, gui: Any, action: Action) -> None:
        x, y = self._xy(gui, action.point)
        button = "right" if action.kind == "right_click" else "left"
        clicks = 2 if action.kind == "double_click" else 1
        self._step(gui.click, x, y, clicks=clicks, button=button, hold=(self._buttons, button))
        self._let_go(self._buttons, button)

    def _move(self, gui: Any, action: Action) -> None:
        self._step(gui.moveTo, *self._xy(gui, action.point))

    def _drag(self, gui: Any, action: Action) -> None:
        (x0, y0), (x1, y1) = self._xy(gui, action.point), self._xy(gui, action.end)
        seconds = action.seconds or DRAG_SECONDS
        steps = max(2, math.ceil(seconds / STEP_SECONDS))
        self._step(gui.moveTo, x0, y0)
        self._step(gui.mouseDown, x0, y0, button="left", hold=(self._buttons, "left"))
        for i in range(1, steps + 1):
            self._sleep(seconds / steps)
            self._step(gui.moveTo, round(x0 + (x1 - x0) * i / steps), round(y0 + (y1 - y0) * i / steps), _pause=False)
        self._sleep(STEP_SECONDS)  # the pointer rests on the target before the drop, as a hand's would
        self._step(gui.mouseUp, x1, y1, button="left")
        self._let_go(self._buttons, "left")

    def _scroll(self, gui: Any, action: Action) -> None:
        x, y = self._xy(gui, action.point)
        sign = 1 if action.amount > 0 else -1
        if action.horizontal:
            wheel, click = gui.hscroll, sign  # pyautogui: positive is right
        else:
            wheel, click = gui.scroll, -sign  # pyautogui: positive is up; ours: positive is down
        for _ in range(abs(action.amount)):
            self._step(wheel, click, x, y)

    def _type(self, gui: Any, action: Action) -> None:
        text = action.text.replace("\r\n", "\n")
        if sys.platform.startswith("linux"):
            with _CALLS:
                align_pyautogui(gui)  # the layout may have changed since the last action
        untypable = sorted({c for c in text if not gui.isValidKey(c)})
        if untypable:
            names = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in untypable)
            raise ValueError(f"cannot type {names}: only printable ASCII on the keyboard layout, tab and newline")
        for char in text:
            self._step(gui.press, char, _pause=False, hold=(self._keys, char))
            self._let_go(self._keys, char)
            self._sleep(TYPE_INTERVAL)

    def _key(self, gui: Any, action: Action) -> None:
        key = _key_name(gui, action.keys[0])
        self._step(gui.press, key, hold=(self._keys, key))
        self._let_go(self._keys, key)

    def _hotkey(self, gui: Any, action: Action) -> None:
        keys = [_key_name(gui, k) for k in action.keys]
        if len(set(keys)) != len(keys):
            raise ValueError(f"a hotkey names each key once, not {' + '.join(action.keys)}")
        for key in keys:
            self._step(gui.keyDown, key, hold=(self._keys, key))
        for key in reversed(keys):
            self._step(gui.keyUp, key)
            self._let_go(self._keys, key)


def _attempt(call: Callable[..., Any], *args: Any) -> list[str]:
    """[] if call(*args) worked, else a one-item list naming what failed (the error is logged)."""
    try:
        call(*args)
    except Exception:
        log.exception("releasing %s failed", args[-1])
        return [str(args[-1])]
    return []
