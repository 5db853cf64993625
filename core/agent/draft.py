"""A parsed step before it is an Action: the reply's own numbers, read in one coordinate convention.

Both parsers (tool-call arguments and the UI-TARS text grammar) produce a `Draft`; `to_action` reads
its points as pixels of the image the model saw or as 0–1000 normalised values, checks that they
fall on that image, and builds the Action, whose own checks (caps on text, scrolls, waits) raise
ValueError like every other rule here: the parser turns each into a `Rejected` with its message.
Convention "auto" reads pixels when every value fits the image and 0–1000 when some value does not
but all are at most 1000; a value past both is outside the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.desktop.actions import Action, Frame, Point

CONVENTIONS = ("auto", "pixels", "normalized")
NORMALIZED_RANGE = 1000


@dataclass(frozen=True)
class Draft:
    kind: str
    points: tuple[tuple[float, float], ...] = ()  # a start, and a drag's end
    text: str = ""
    keys: tuple[str, ...] = ()
    amount: int = 0
    horizontal: bool = False
    seconds: float = 0.0
    note: str = ""


def number(value: object, what: str) -> float:
    """`value` as a finite float; ValueError unless it is a JSON-style number (a bool is not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number, not {type(value).__name__}")
    try:
        x = float(value)
    except OverflowError:
        raise ValueError(f"{what} is a number too large to use") from None
    if not math.isfinite(x):
        raise ValueError(f"{what} must be a finite number, not {x}")
    return x


def whole(value: object, what: str) -> int:
    """`value` as an int; a float is accepted only when it has no fraction."""
    x = number(value, what)
    if not x.is_integer():
        raise ValueError(f"{what} must be a whole number, not {x:g}")
    return int(x)


def to_action(draft: Draft, frame: Frame, convention: str) -> Action:
    """The Action `draft` describes on `frame`, its points in the model's image space."""
    w, h = frame.model
    points = [_convert(p, w, h, _resolve(draft.points, w, h, convention)) for p in draft.points]
    for x, y in points:
        if not (0 <= x < w and 0 <= y < h):
            raise ValueError(f"the point ({x:g}, {y:g}) lies outside the {w}x{h} image the model saw")
    return Action(
        draft.kind,
        frame.screenshot_id,
        point=Point(*points[0], "model") if points else None,
        end=Point(*points[1], "model") if len(points) > 1 else None,
        text=draft.text,
        keys=draft.keys,
        amount=draft.amount,
        horizontal=draft.horizontal,
        seconds=draft.seconds,
        note=draft.note,
    )


def _resolve(points: tuple[tuple[float, float], ...], w: int, h: int, convention: str) -> str:
    if convention not in CONVENTIONS:
        raise ValueError(f"coordinate convention {convention!r} is unknown; use one of {', '.join(CONVENTIONS)}")
    if convention != "auto":
        return convention
    if all(0 <= x < w and 0 <= y < h for x, y in points):
        return "pixels"
    if all(0 <= v <= NORMALIZED_RANGE for p in points for v in p):
        return "normalized"
    return "pixels"


def _convert(p: tuple[float, float], w: int, h: int, convention: str) -> tuple[float, float]:
    if convention == "pixels":
        return p
    if not all(0 <= v <= NORMALIZED_RANGE for v in p):
        raise ValueError(f"the point ({p[0]:g}, {p[1]:g}) is outside the 0-{NORMALIZED_RANGE} normalised range")
    return p[0] * w / NORMALIZED_RANGE, p[1] * h / NORMALIZED_RANGE
