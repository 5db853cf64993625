"""How the agent sees the screen: a capture with our own windows blacked out, the image the model is
shown (our resize, so its coordinate space is known exactly), whether two captures differ enough to
call the screen changed, and a thumbnail with the action marked for the user and the history.

`Desktop` is what the loop needs of a screen; `LiveDesktop` is the real one (mss and X11). The
change test ignores small differences (a blinking caret, a hover highlight): a screen counts as
changed when more than `CHANGED_FRACTION` of a coarse grid of its pixels differ.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
from PIL import Image, ImageDraw

from core.agent.policy import Rect
from core.desktop.actions import Action, Frame, Point
from core.desktop.capture import capture_screen
from core.messages import ImagePart, pixel_digest

MAX_MODEL_SIDE = 1280  # the longest side of the image the model is shown, by default
MAX_MODEL_PIXELS = 1280 * 800
CHANGED_FRACTION = 0.005
GRID = 4  # compare every 4th pixel of every 4th row
THUMB_WIDTH = 320
_ids = itertools.count(1)


class Desktop(Protocol):
    def capture(self, exclude: Sequence[Rect]) -> ImagePart:
        """The screen the agent works on, `exclude` rectangles blacked out; the part's source
        carries its ScreenGeometry."""
        ...

    def monitors(self) -> list[Rect]: ...

    def focused(self) -> tuple[str, str]:
        """The focused window's (title, application); empty strings when unknown."""
        ...


@dataclass
class LiveDesktop:
    """The real screen: one monitor (1..n) or all of them (0)."""

    monitor: int = 0

    def capture(self, exclude: Sequence[Rect]) -> ImagePart:
        return capture_screen(
            monitor=self.monitor, exclude=[(int(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in exclude]
        )

    def monitors(self) -> list[Rect]:
        from core.desktop.screen import monitors

        return [(m.left, m.top, m.width, m.height) for m in monitors()]

    def focused(self) -> tuple[str, str]:
        from core.desktop.screen import focused_window

        window = focused_window()
        return (window.title, window.app) if window else ("", "")


@dataclass(frozen=True)
class Look:
    """One capture: the screenshot, what the model is shown, and the frame tying them together."""

    shot: ImagePart
    shown: np.ndarray  # [h, w, 3] the resized image the model sees
    frame: Frame


def look(desktop: Desktop, exclude: Sequence[Rect], *, size_for=None) -> Look:
    """Capture the screen and resize it for the model. `size_for(height, width) -> (height, width)`
    is the engine's own resize when it has one (then the engine does not resize again)."""
    shot = desktop.capture(exclude)
    h, w = shot.pixels.shape[:2]
    mh, mw = size_for(h, w) if size_for else model_size(h, w)
    shown = shot.pixels if (mh, mw) == (h, w) else resize(shot.pixels, mw, mh)
    geometry = shot.source.geometry
    if geometry is None:
        raise ValueError("a screenshot for the agent must carry its screen geometry")
    sample = pixel_digest(np.ascontiguousarray(shot.pixels[::GRID, ::GRID]))[:8]  # the id is unique by its count
    frame = Frame(f"shot-{next(_ids)}-{sample}", geometry, pixels=(w, h), model=(mw, mh))
    return Look(shot, shown, frame)


def model_size(height: int, width: int) -> tuple[int, int]:
    """(height, width) of the image shown to the model: the screenshot scaled down, aspect kept, to
    at most MAX_MODEL_SIDE on its longer side and MAX_MODEL_PIXELS in all; never scaled up."""
    factor = min(1.0, MAX_MODEL_SIDE / max(height, width), (MAX_MODEL_PIXELS / (height * width)) ** 0.5)
    return max(1, round(height * factor)), max(1, round(width * factor))


def resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).resize((width, height), Image.Resampling.BILINEAR, reducing_gap=2.0))


def changed(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two captures show a different screen (not a caret blink)."""
    if a.shape != b.shape:
        return True
    sa, sb = a[::GRID, ::GRID].astype(np.int16), b[::GRID, ::GRID].astype(np.int16)
    differing = (np.abs(sa - sb).max(axis=2) > 24).mean()
    return bool(differing > CHANGED_FRACTION)


def to_screen(action: Action, frame: Frame) -> Action:
    """`action` with its points in screen space, rounded to whole units (where input lands)."""

    def convert(p: Point | None) -> Point | None:
        if p is None:
            return None
        q = frame.convert(p, "screen")
        return Point(round(q.x), round(q.y), "screen")

    return replace(action, point=convert(action.point), end=convert(action.end))


def thumbnail(pixels: np.ndarray, frame: Frame, action: Action | None) -> bytes:
    """A PNG THUMB_WIDTH wide of the screenshot with a ring where the action lands (and a line to a
    drag's end)."""
    h, w = pixels.shape[:2]
    tw = min(THUMB_WIDTH, w)
    th = max(1, round(h * tw / w))
    image = Image.fromarray(resize(pixels, tw, th))
    if action is not None and action.point is not None:
        draw = ImageDraw.Draw(image)
        marks = [frame.convert(p, "screenshot") for p in (action.point, action.end) if p is not None]
        xy = [(p.x * tw / w, p.y * th / h) for p in marks]
        if len(xy) == 2:
            draw.line(xy, fill=(255, 40, 40), width=2)
        x, y = xy[0]
        draw.ellipse((x - 7, y - 7, x + 7, y + 7), outline=(255, 40, 40), width=3)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
