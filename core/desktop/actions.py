"""One computer-use step as plain data (SPEC: the spine's Action), ready for the agent.

Three coordinate spaces are kept apart (SAFETY.md): `model` (the image as the model saw it,
after the engine's resize), `screenshot` (the captured image's own pixels) and `screen` (the
desktop's logical coordinates that input is sent in: per-monitor origin, HiDPI scale). A
`Frame` ties one screenshot to its geometry and the size the model saw it at, and converts
points between the spaces exactly (rounding to the nearest pixel only at the end). Each action
names the screenshot it was predicted on, so a stale one can be re-planned, never run. Parsers
of model output (`core.agent.parse`) make Actions, the policy (`core.agent.policy`) judges them,
the executor (`core.desktop.input`) carries them out. `done` and `fail` end a task; `key` is one
key pressed (`keys` has one name), `hotkey` a chord held together (two names or more).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.messages import ScreenGeometry

SPACES = ("model", "screenshot", "screen")
OBSERVE = ("screenshot", "zoom", "wait", "cursor_position")  # run without asking
ACT = ("click", "double_click", "right_click", "move", "drag", "type", "key", "hotkey", "scroll")  # when allowed
END = ("done", "fail")  # the model says the task is finished, or that it cannot be
KINDS = OBSERVE + ACT + END
POINTED = ("zoom", "click", "double_click", "right_click", "move", "drag", "scroll")
MAX_WAIT_SECONDS = 30.0
MAX_HOLD_SECONDS = 5.0  # how long a drag may hold the button down
MAX_SCROLL = 50  # wheel clicks in one scroll
MAX_TEXT = 2000  # characters typed by one action


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    space: str  # one of SPACES

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ValueError(f"coordinate space {self.space!r} is unknown; use one of {', '.join(SPACES)}")


@dataclass(frozen=True)
class Frame:
    """A screenshot as the model saw it: `geometry` from the capture, `pixels` its (width,
    height), `model` the (width, height) the engine resized it to."""

    screenshot_id: str
    geometry: ScreenGeometry
    pixels: tuple[int, int]
    model: tuple[int, int]

    def convert(self, point: Point, to: str) -> Point:
        """`point` in space `to`."""
        sx, sy = self._to_screenshot(point)
        if to == "screenshot":
            return Point(sx, sy, to)
        if to == "model":
            return Point(sx * self.model[0] / self.pixels[0], sy * self.model[1] / self.pixels[1], to)
        if to == "screen":
            g = self.geometry
            return Point(g.left + sx / g.scale, g.top + sy / g.scale, to)
        raise ValueError(f"coordinate space {to!r} is unknown; use one of {', '.join(SPACES)}")

    def _to_screenshot(self, point: Point) -> tuple[float, float]:
        if point.space == "model":
            return point.x * self.pixels[0] / self.model[0], point.y * self.pixels[1] / self.model[1]
        if point.space == "screen":
            g = self.geometry
            return (point.x - g.left) * g.scale, (point.y - g.top) * g.scale
        return point.x, point.y

    def contains(self, point: Point) -> bool:
        """Whether `point` lies on this screenshot."""
        x, y = self._to_screenshot(point)
        return 0 <= x < self.pixels[0] and 0 <= y < self.pixels[1]


@dataclass(frozen=True)
class Action:
    kind: str  # one of KINDS
    screenshot_id: str  # the screenshot the step was predicted on
    point: Point | None = None  # where: clicks, moves, scrolls, zooms, a drag's start
    end: Point | None = None  # a drag's end
    text: str = ""  # what to type; for done and fail, the model's summary or reason
    keys: tuple[str, ...] = ()  # key: one name, e.g. ("enter",); hotkey: a chord, e.g. ("ctrl", "s")
    amount: int = 0  # scroll clicks: positive down (or right), negative up (or left)
    horizontal: bool = False  # a sideways scroll
    seconds: float = 0.0  # how long to wait, or how long a drag takes
    note: str = ""  # the model's own words about the step (its thought), shown to the user

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"action {self.kind!r} is unknown; use one of {', '.join(KINDS)}")
        if (self.point is None) == (self.kind in POINTED):
            need = "needs a point" if self.kind in POINTED else "takes no point"
            raise ValueError(f"a {self.kind} action {need}")
        if (self.kind == "drag") != (self.end is not None):
            raise ValueError("a drag needs an end point, and only a drag has one")
        if self.kind == "type" and not 0 < len(self.text) <= MAX_TEXT:
            raise ValueError(f"a type action needs text of 1 to {MAX_TEXT} characters, not {len(self.text)}")
        if self.kind == "key" and len(self.keys) != 1:
            raise ValueError(f"a key action presses one key, not {len(self.keys)}")
        if self.kind == "hotkey" and not 2 <= len(self.keys) <= 4:
            raise ValueError(f"a hotkey action holds 2 to 4 keys together, not {len(self.keys)}")
        if any(not isinstance(k, str) or not k for k in self.keys):
            raise ValueError("key names are non-empty strings")
        if self.kind == "wait" and not 0 < self.seconds <= MAX_WAIT_SECONDS:
            raise ValueError(f"a wait lasts more than 0 and at most {MAX_WAIT_SECONDS:g} seconds, not {self.seconds}")
        if self.kind == "drag" and not 0 <= self.seconds <= MAX_HOLD_SECONDS:
            raise ValueError(f"a drag holds the button at most {MAX_HOLD_SECONDS:g} seconds, not {self.seconds}")
        if self.kind == "scroll" and not (self.amount and abs(self.amount) <= MAX_SCROLL):
            raise ValueError(f"a scroll moves 1 to {MAX_SCROLL} clicks either way, not {self.amount}")
        for p in (self.point, self.end):
            if p is not None and not (math.isfinite(p.x) and math.isfinite(p.y)):
                raise ValueError(f"a {self.kind} action's point must be finite, not ({p.x}, {p.y})")

    @property
    def tier(self) -> str:
        """observe (run) or act (ask first); the policy may raise an act to dangerous."""
        return "act" if self.kind in ACT else "observe"
