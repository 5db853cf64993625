"""The emergency stop hotkey: a global key chord, heard whichever window has the focus, that calls
back at once (SAFETY.md: it ends the task, cancels the model call, releases held input).

pynput (LGPL-3.0) listens; on X11 through the RECORD extension (an Xvfb must have it: `+extension
RECORD`), without grabbing, so the chord still reaches the focused window and synthetic input
(xdotool, the agent's own pyautogui) is heard too: an agent that pressed the chord would stop
itself. The default, ctrl+alt+end, is bound by no common desktop or application, cannot come up
in typing, and avoids the Esc chords desktops own (ctrl+alt+esc kills a window on KDE,
ctrl+shift+esc opens the task manager on Windows). The callback runs on pynput's thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_COMBO = "<ctrl>+<alt>+<end>"
READY_SECONDS = 5.0
MODIFIERS = {"ctrl", "alt", "shift", "cmd", "alt_gr"} | {
    f"{m}_{side}" for m in ("ctrl", "alt", "shift", "cmd") for side in "lr"
}
NAMED_KEYS = {
    "end", "home", "esc", "pause", "delete", "backspace", "enter", "space", "tab", "insert", "page_up", "page_down",
    "up", "down", "left", "right", "print_screen", "scroll_lock", "menu",
} | {f"f{n}" for n in range(1, 21)}  # fmt: skip


class HotkeyUnavailable(RuntimeError):
    """No global keyboard listener can run here (no X display, no RECORD, no input permission)."""


def parse_combo(combo: str) -> str:
    """`combo` in canonical form (lower case) if it is a valid chord: modifiers in angle brackets,
    at least one that is not shift, and exactly one other key, e.g. '<ctrl>+<alt>+<end>'."""
    parts = [p.strip() for p in combo.split("+")]
    if any(not p for p in parts):
        raise ValueError(_bad(combo, "it has an empty part"))
    names = [_part(combo, p) for p in parts]
    if len(set(names)) != len(names):
        raise ValueError(_bad(combo, "it names a key twice"))
    modifiers = [n for n in names if n.strip("<>") in MODIFIERS]
    others = [n for n in names if n not in modifiers]
    if not any(m.strip("<>").split("_")[0] != "shift" for m in modifiers):
        raise ValueError(_bad(combo, "it needs a modifier other than shift, or typing would set it off"))
    if len(others) != 1:
        raise ValueError(_bad(combo, f"it needs exactly one key besides the modifiers, not {len(others)}"))
    return "+".join(names)


def _part(combo: str, part: str) -> str:
    if len(part) == 1 and part.isprintable() and not part.isspace():
        return part.lower()
    name = part[1:-1].lower() if part.startswith("<") and part.endswith(">") else ""
    if name in MODIFIERS or name in NAMED_KEYS:
        return f"<{name}>"
    raise ValueError(_bad(combo, f"{part!r} is not a key; name keys like <ctrl>, <alt>, <shift>, <end>, <f12> or x"))


def _bad(combo: str, why: str) -> str:
    return f"hotkey {combo!r} is invalid: {why} (write it like {DEFAULT_COMBO!r})"


class EmergencyStop:
    """Calls `on_press` whenever `combo` is pressed anywhere on the desktop, between start() and
    stop() (or inside a with-block). An exception from `on_press` is logged, and listening goes on."""

    def __init__(self, combo: str = DEFAULT_COMBO, *, on_press: Callable[[], None]) -> None:
        self.combo = parse_combo(combo)
        self._on_press = on_press
        self._listener: Any = None

    @property
    def running(self) -> bool:
        return self._listener is not None and self._listener.is_alive()

    def start(self) -> None:
        """Listen from now on; returns once the listener is armed."""
        if self._listener is not None:
            return
        keyboard = _keyboard()
        listener = keyboard.GlobalHotKeys({self.combo: self._fire})
        listener.start()
        armed = threading.Thread(target=listener.wait, daemon=True)  # pynput's wait() has no timeout
        armed.start()
        armed.join(READY_SECONDS)
        if armed.is_alive() or not listener.is_alive():
            if getattr(listener, "_context", None) is not None:  # pynput's stop() waits forever without one
                listener.stop()
            raise HotkeyUnavailable(f"the global hotkey listener for {self.combo} did not start; see the log")
        self._listener = listener

    def stop(self) -> None:
        """Stop listening (idempotent); waits for the listener thread to end."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        listener.stop()
        deadline = time.monotonic() + READY_SECONDS
        while listener.is_alive() and time.monotonic() < deadline:
            if _x11_backend():
                _end_record(listener)  # again if the thread only now began recording
            listener.join(0.05)
        if listener.is_alive():
            log.warning("the hotkey listener's thread is still running; it ends at the next key event")

    def _fire(self) -> None:
        try:
            self._on_press()
        except Exception:
            log.exception("the emergency stop callback failed")

    def __enter__(self) -> EmergencyStop:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _keyboard() -> Any:
    try:
        from pynput import keyboard
    except ImportError as error:
        raise HotkeyUnavailable(f"no global keyboard listener here (pynput: {error})") from None
    if _x11_backend():
        _require_record()
    return keyboard


def _x11_backend() -> bool:
    from pynput import keyboard

    return keyboard.Listener.__module__.endswith("_xorg")


def _require_record() -> None:
    import Xlib.display
    import Xlib.error

    try:
        display = Xlib.display.Display()
    except Xlib.error.DisplayError as error:
        raise HotkeyUnavailable(f"no X display for the global hotkey: {error}") from None
    try:
        if not display.has_extension("RECORD"):
            raise HotkeyUnavailable(
                "the X server lacks the RECORD extension the global hotkey needs (Xvfb: +extension RECORD)"
            )
    finally:
        display.close()


def _end_record(listener: Any) -> None:
    """pynput's X11 stop() sends RecordDisableContext on the connection that is blocked receiving the
    recording, where it waits unsent until the next key event (pynput PR #583), so the listener's
    thread lingers; sending it on a connection of our own ends the recording at once."""
    import Xlib.display
    import Xlib.error

    context = getattr(listener, "_context", None)
    if context is None:
        return
    try:
        display = Xlib.display.Display()
    except Xlib.error.DisplayError as error:
        log.warning("could not end the hotkey listener's recording: %s", error)
        return
    try:
        display.record_disable_context(context)
        display.flush()
    finally:
        display.close()
