"""The agent panel's boundaries in tests: a generated screen, an executor that only records, and an
emergency-stop hotkey that a test presses by calling it.

`FakeDesktop` is a monitor placed beside the offscreen window (at x = 3000), so the window never
covers a target; it records the `exclude` rectangles of every capture and blacks them out as the
real capture does. Real input and real global hotkeys are tested on Xvfb elsewhere.
"""

from __future__ import annotations

import threading

import numpy as np

from core.desktop.capture import blank
from core.messages import ImagePart, ScreenGeometry, Source

LEFT, WIDTH, HEIGHT = 3000, 800, 600


class FakeDesktop:
    def __init__(self) -> None:
        y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
        self.pixels = np.stack([x * 255 // WIDTH, y * 255 // HEIGHT, (x // 40 + y // 40) % 2 * 200], axis=2)
        self.pixels = self.pixels.astype(np.uint8)  # [H, W, 3] a gradient under a checkerboard
        self.excludes: list[tuple] = []

    def capture(self, exclude) -> ImagePart:
        self.excludes.append(tuple(tuple(r) for r in exclude))
        pixels = self.pixels.copy()
        for box in exclude:
            blank(pixels, (LEFT, 0, WIDTH, HEIGHT), box, 1.0)
        return ImagePart(pixels, Source("screenshot", geometry=ScreenGeometry(LEFT, 0, WIDTH, HEIGHT)))

    def monitors(self) -> list:
        return [(LEFT, 0, WIDTH, HEIGHT)]

    def focused(self) -> tuple[str, str]:
        return "", ""


class RecordingExecutor:
    def __init__(self) -> None:
        self.performed: list = []
        self.stops = self.releases = 0

    def perform(self, action) -> None:
        self.performed.append(action)

    def release(self) -> None:
        self.releases += 1

    def stop(self) -> None:
        self.stops += 1

    def reset(self) -> None:
        pass


class FakeHotkey:
    made: list[FakeHotkey] = []

    def __init__(self, combo: str, on_press) -> None:
        self.combo, self.on_press = combo, on_press
        self.running = False
        FakeHotkey.made.append(self)

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running = False

    def press(self) -> None:
        """As pynput would: the callback runs on another thread."""
        thread = threading.Thread(target=self.on_press)
        thread.start()
        thread.join()


class BrokenHotkey(FakeHotkey):
    def start(self) -> None:
        raise OSError("no X display to grab keys on")
