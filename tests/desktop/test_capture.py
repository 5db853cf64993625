"""Screenshots through real mss on a real X server: a private Xvfb (tests/xdesktop.py) with one
2304x800 screen split by `xrandr --setmonitor` into two monitors of different sizes (1280x800 and
1024x768 to its right), with windows of known colours drawn by a small Tk client. The display is
this module's own, not the shared one, because its boxes would sit under the agent tests' window."""

import subprocess
import sys

import numpy as np
import pytest

from core.desktop import capture_screen
from core.desktop.capture import EXCLUDE_FILL
from tests.xdesktop import BACKGROUND, xvfb_desktop

RED_BOX = (1400, 100, 200, 150)  # on the second monitor, in desktop coordinates
GREEN_BOX = (100, 600, 80, 40)  # on the first
BOXES = [",".join(map(str, (*RED_BOX, "#ff0000"))), ",".join(map(str, (*GREEN_BOX, "#00ff00")))]

TK_CLIENT = """
import sys, tkinter
root = tkinter.Tk()
root.withdraw()
for spec in sys.argv[1:]:
    x, y, w, h, color = spec.split(",")
    window = tkinter.Toplevel(root, background=color, highlightthickness=0, borderwidth=0)
    window.overrideredirect(True)
    window.geometry(f"{w}x{h}+{x}+{y}")
root.update()
root.after(300, lambda: print("ready", flush=True))
root.mainloop()
"""


@pytest.fixture(scope="module")
def painted_desktop():
    with xvfb_desktop() as display:
        client = subprocess.Popen([sys.executable, "-c", TK_CLIENT, *BOXES], stdout=subprocess.PIPE, text=True)
        try:
            assert client.stdout.readline().strip() == "ready"
            yield display
        finally:
            client.terminate()
            client.wait(5)


def _color(pixels: np.ndarray, x: int, y: int) -> tuple:
    return tuple(int(c) for c in pixels[y, x])


def test_each_monitor_is_captured_with_its_own_geometry(painted_desktop):
    first, second = capture_screen(monitor=1), capture_screen(monitor=2)
    assert first.pixels.shape == (800, 1280, 3) and second.pixels.shape == (768, 1024, 3)
    g1, g2 = first.source.geometry, second.source.geometry
    assert (g1.left, g1.top, g1.width, g1.height, g1.scale, g1.monitor) == (0, 0, 1280, 800, 1.0, 1)
    assert (g2.left, g2.top, g2.width, g2.height, g2.scale, g2.monitor) == (1280, 0, 1024, 768, 1.0, 2)
    assert first.source.kind == "screenshot"


def test_the_captured_pixels_are_what_was_drawn(painted_desktop):
    second = capture_screen(monitor=2).pixels
    x, y = RED_BOX[0] - 1280 + RED_BOX[2] // 2, RED_BOX[1] + RED_BOX[3] // 2
    assert _color(second, x, y) == (255, 0, 0)
    assert _color(second, 10, 700) == BACKGROUND
    first = capture_screen(monitor=1).pixels
    assert _color(first, GREEN_BOX[0] + 5, GREEN_BOX[1] + 5) == (0, 255, 0)


def test_the_whole_desktop_spans_both_monitors(painted_desktop):
    for monitor in (None, 0):
        shot = capture_screen(monitor=monitor)
        assert shot.pixels.shape == (800, 2304, 3) and shot.source.geometry.monitor == 0
        assert _color(shot.pixels, RED_BOX[0] + 1, RED_BOX[1] + 1) == (255, 0, 0)
        assert _color(shot.pixels, GREEN_BOX[0] + 1, GREEN_BOX[1] + 1) == (0, 255, 0)


def test_a_region_maps_image_points_back_to_the_desktop(painted_desktop):
    shot = capture_screen(region=(1350, 50, 300, 300))
    g = shot.source.geometry
    assert shot.pixels.shape == (300, 300, 3) and (g.left, g.top, g.width, g.height) == (1350, 50, 300, 300)
    ys, xs = np.nonzero(np.all(shot.pixels == (255, 0, 0), axis=-1))
    top_left = (g.left + xs.min() / g.scale, g.top + ys.min() / g.scale)
    assert top_left == (RED_BOX[0], RED_BOX[1])


def test_excluded_rectangles_are_filled(painted_desktop):
    shot = capture_screen(exclude=[RED_BOX, (2200, 700, 500, 500)]).pixels
    x0, y0, w, h = RED_BOX
    assert np.all(shot[y0: y0 + h, x0: x0 + w] == EXCLUDE_FILL)
    assert np.all(shot[700:800, 2200:2304] == EXCLUDE_FILL)  # clipped at the desktop's edge
    assert _color(shot, x0 - 1, y0 - 1) == BACKGROUND and _color(shot, x0 + w, y0 + h) == BACKGROUND
    assert _color(shot, GREEN_BOX[0] + 1, GREEN_BOX[1] + 1) == (0, 255, 0)


def test_exclusion_works_in_desktop_coordinates_on_a_monitor(painted_desktop):
    second = capture_screen(monitor=2, exclude=[RED_BOX]).pixels
    assert np.all(second[RED_BOX[1]: RED_BOX[1] + RED_BOX[3], RED_BOX[0] - 1280: RED_BOX[0] - 1280 + RED_BOX[2]] == 0)
    assert not np.any(np.all(second == (255, 0, 0), axis=-1))


def test_bad_requests_are_refused(painted_desktop):
    with pytest.raises(ValueError, match="monitor 3 does not exist; this desktop has monitors 1 to 2"):
        capture_screen(monitor=3)
    with pytest.raises(ValueError, match="does not overlap"):
        capture_screen(region=(5000, 5000, 10, 10))
    with pytest.raises(ValueError, match="a monitor or a region, not both"):
        capture_screen(monitor=1, region=(0, 0, 10, 10))
