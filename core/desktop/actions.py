"""One computer-use step as plain data (SPEC: the spine's Action), ready for the agent.

Three coordinate spaces are kept apart (SAFETY.md): `model` (the image as the model saw it,
after the engine's resize), `screenshot` (the captured image's own pixels) and `screen` (the
desktop's logical coordinates that input is sent in: per-monitor origin, HiDPI scale). A
`Frame` ties one screenshot to its geometry and the size the model saw it at, and converts
points between the spaces exactly (rounding to the nearest pixel only at the end). Each action
names the screenshot it was predicted on, so a stale one can be re-planned, never run. Parsers
of model output make Actions, the policy judges them, the executor carries them out (to come).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.messages import ScreenGeometry

SPACES = ("model", "screenshot", "screen")
OBSERVE = ("screenshot", "zoom", "wait", "cursor_position")  # run without asking
ACT = ("click", "double_click", "right_click", "move", "drag", "type", "key", "scroll")  # run only when allowed
KINDS = OBSERVE + ACT
POINTED = ("zoom", "click", "double_click", "right_click", "move", "drag", "scroll")
MAX_WAIT_SECONDS = 30.0


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
    text: str = ""  # what to type
    keys: tuple[str, ...] = ()  # a key chord, e.g. ("ctrl", "s")
    amount: int = 0  # scroll clicks, negative for up
    seconds: float = 0.0  # how long to wait

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"action {self.kind!r} is unknown; use one of {', '.join(KINDS)}")
        if (self.point is None) == (self.kind in POINTED):
            need = "needs a point" if self.kind in POINTED else "takes no point"
            raise ValueError(f"a {self.kind} action {need}")
        if (self.kind == "drag") != (self.end is not None):
            raise ValueError("a drag needs an end point, and only a drag has one")
        if self.kind == "type" and not self.text:
            raise ValueError("a type action needs text")
        if self.kind == "key" and not self.keys:
            raise ValueError("a key action needs keys")
        if self.kind == "wait" and not 0 < self.seconds <= MAX_WAIT_SECONDS:
            raise ValueError(f"a wait lasts more than 0 and at most {MAX_WAIT_SECONDS:g} seconds, not {self.seconds}")

    @property
    def tier(self) -> str:
        """observe (run) or act (ask first); the policy may raise an act to dangerous."""
        return "observe" if self.kind in OBSERVE else "act"
