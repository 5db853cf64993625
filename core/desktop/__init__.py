"""The desktop: screen capture now, and the agent's actions as plain data (input comes with the
agent). No Qt: the window and the agent both use it."""

from .actions import ACT, END, KINDS, OBSERVE, SPACES, Action, Frame, Point
from .capture import CaptureError, capture_screen, list_monitors

__all__ = [
    "ACT",
    "END",
    "KINDS",
    "OBSERVE",
    "SPACES",
    "Action",
    "CaptureError",
    "Frame",
    "Point",
    "capture_screen",
    "list_monitors",
]
