"""The desktop: screen capture, the agent's actions as plain data, the executor that performs them
(pyautogui, imported at its first action), the monitors and focused window, and the emergency stop
hotkey (pynput). No Qt: the window and the agent both use it."""

from .actions import ACT, END, KINDS, OBSERVE, SPACES, Action, Frame, Point
from .capture import CaptureError, capture_screen, list_monitors
from .hotkey import DEFAULT_COMBO, EmergencyStop, HotkeyUnavailable, parse_combo
from .input import Executor, FailSafeTriggered, InputError, InputUnavailable, Stopped
from .screen import Monitor, NoX11, WindowInfo, focused_window, held_keys, monitors, on_screen, pointer_buttons

__all__ = [
    "ACT",
    "DEFAULT_COMBO",
    "END",
    "KINDS",
    "OBSERVE",
    "SPACES",
    "Action",
    "CaptureError",
    "EmergencyStop",
    "Executor",
    "FailSafeTriggered",
    "Frame",
    "HotkeyUnavailable",
    "InputError",
    "InputUnavailable",
    "Monitor",
    "NoX11",
    "Point",
    "Stopped",
    "WindowInfo",
    "capture_screen",
    "focused_window",
    "held_keys",
    "list_monitors",
    "monitors",
    "on_screen",
    "parse_combo",
    "pointer_buttons",
]
