"""Screenshots through mss: the whole desktop, one monitor, or a region, as an `ImagePart`.

Used to attach a screenshot to a message and, for the agent, to see the screen before each step.

The part's `Source(kind="screenshot")` carries a `ScreenGeometry` (the captured rectangle in
desktop coordinates, the image pixels per desktop unit, the monitor index), which is what maps a
point the model names on the image back to a point on the screen. Our own window must not reach
the model (SAFETY.md): rectangles passed as `exclude`, in desktop coordinates, are filled with
`EXCLUDE_FILL` (black) before the pixels are returned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import mss
import mss.exception
import numpy as np

from core.messages import ImagePart, ScreenGeometry, Source

EXCLUDE_FILL = (0, 0, 0)
Rect = tuple[int, int, int, int]  # left, top, width, height in desktop coordinates


class CaptureError(RuntimeError):
    """The screen could not be captured (no display, or the grab failed)."""


def capture_screen(
    *, monitor: int | None = None, region: Rect | None = None, exclude: Sequence[Rect] = ()
) -> ImagePart:
    """Grab monitor `monitor` (None or 0: the whole desktop, 1..n: one monitor, as mss numbers them)
    or `region` (left, top, width, height in desktop coordinates; not with `monitor`), with each
    rectangle in `exclude` (say, our own window) filled with black."""
    if monitor and region is not None:
        raise ValueError("capture_screen takes a monitor or a region, not both")
    try:
        with mss.MSS() as grabber:
            rect, index = _target(grabber.monitors, monitor or 0, region)
            shot = grabber.grab({"left": rect[0], "top": rect[1], "width": rect[2], "height": rect[3]})
            pixels = np.frombuffer(shot.bgra, dtype=np.uint8).reshape(shot.height, shot.width, 4)
    except mss.exception.ScreenShotError as error:
        raise CaptureError(f"the screen could not be captured: {error}") from None
    pixels = pixels[:, :, 2::-1].copy()  # BGRA -> RGB, [H, W, 3]
    scale = shot.width / rect[2]
    for box in exclude:
        blank(pixels, rect, box, scale)
    geometry = ScreenGeometry(rect[0], rect[1], rect[2], rect[3], scale=scale, monitor=index)
    return ImagePart(pixels, Source("screenshot", geometry=geometry))


def list_monitors() -> list[Rect]:
    """The monitors as `capture_screen(monitor=i)` numbers them: entry i - 1 is monitor i."""
    try:
        with mss.MSS() as grabber:
            return [_rect(m) for m in grabber.monitors[1:]]
    except mss.exception.ScreenShotError as error:
        raise CaptureError(f"the monitors could not be listed: {error}") from None


def _target(monitors: list[dict], index: int, region: Rect | None) -> tuple[Rect, int]:
    if not 0 <= index < len(monitors):
        raise ValueError(
            f"monitor {index} does not exist; this desktop has monitors 1 to {len(monitors) - 1} (0 is all of them)"
        )
    chosen = _rect(monitors[index])
    if region is None:
        return chosen, index
    clipped = intersect(_int_rect(region), chosen)
    if clipped is None:
        raise ValueError(f"region {tuple(region)} does not overlap the desktop {chosen}")
    return clipped, 0


def _rect(monitor: dict) -> Rect:
    return monitor["left"], monitor["top"], monitor["width"], monitor["height"]


def _int_rect(r: Rect) -> Rect:
    """`r` with whole-number coordinates (callers may pass floats)."""
    return int(r[0]), int(r[1]), int(r[2]), int(r[3])


def intersect(a: Rect, b: Rect) -> Rect | None:
    """The overlap of two (left, top, width, height) rectangles, or None."""
    left, top = max(a[0], b[0]), max(a[1], b[1])
    right, bottom = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    return (left, top, right - left, bottom - top) if right > left and bottom > top else None


def blank(pixels: np.ndarray, captured: Rect, box: Rect, scale: float) -> None:
    """Fill the part of desktop rectangle `box` inside `captured` with `EXCLUDE_FILL`, in place."""
    overlap = intersect(_int_rect(box), captured)
    if overlap is None:
        return
    x0 = math.floor((overlap[0] - captured[0]) * scale)
    y0 = math.floor((overlap[1] - captured[1]) * scale)
    x1 = math.ceil((overlap[0] + overlap[2] - captured[0]) * scale)
    y1 = math.ceil((overlap[1] + overlap[3] - captured[1]) * scale)
    pixels[y0:y1, x0:x1] = EXCLUDE_FILL
