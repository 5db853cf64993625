"""Screenshots from the window's own menu on a real X server with two monitors of different sizes.

Xvfb runs for this module only; the app runs on the xcb platform in a child process
(screenshot_probe.py) because this pytest process already has an offscreen QApplication. The
whole desktop, each monitor, and a region dragged on the rubber-band overlay each become a chip
whose image is exactly that area; our window is hidden while capture_screen runs (and absent
from the pixels) and shown again afterwards.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.app.screenshot_probe import DRAG
from tests.app.xvfb import MONITORS, two_monitor_desktop

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def entries(tmp_path_factory):
    home = tmp_path_factory.mktemp("xcb_home")
    with two_monitor_desktop() as display:
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "PYTHONPATH": str(ROOT),
               "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data")}
        env.pop("QT_SCALE_FACTOR", None)
        done = subprocess.run([sys.executable, "-m", "tests.app.screenshot_probe"], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["platform"] == "xcb"
    return {e["entry"]: e for e in report["entries"]}


def check_hidden_then_shown(entry, kwargs):
    (call,) = entry["captures"]
    assert entry["hidden_at_once"] and call["visible"] is False and call["kwargs"] == kwargs
    assert entry["visible_after"] is True


def test_menu_offers_the_whole_screen_each_monitor_and_a_region(entries):
    assert list(entries) == ["Whole screen", "Monitor 1 (1280×800)", "Monitor 2 (1024×768)", "Region…"]


def test_whole_screen_capture_hides_our_window_and_becomes_a_chip(entries):
    entry = entries["Whole screen"]
    check_hidden_then_shown(entry, {})
    (call,) = entry["captures"]
    assert call["size"] == [800, 2304] and call["bare"] == 1.0  # where the window was: only desktop
    chip = entry["chip"]
    assert chip["kind"] == "screenshot" and chip["file_size"] == [2304, 800]
    assert chip["geometry"] == [0, 0, 2304, 800, 1.0, 0] and chip["label"] == "screenshot 2304×800"  # no model: no estimate yet


@pytest.mark.parametrize("index", [1, 2])
def test_one_monitor_capture_has_that_monitors_size(entries, index):
    left, top, width, height = MONITORS[index - 1]
    entry = entries[f"Monitor {index} ({width}×{height})"]
    check_hidden_then_shown(entry, {"monitor": index})
    assert entry["captures"][0]["size"] == [height, width]
    assert entry["chip"]["file_size"] == [width, height]
    assert entry["chip"]["geometry"] == [left, top, width, height, 1.0, index]


def test_region_is_picked_on_the_overlay_and_becomes_a_chip_of_exactly_that_size(entries):
    entry = entries["Region…"]
    check_hidden_then_shown(entry, {})
    assert entry["overlay_visible"] and entry["overlay_rect"] == [0, 0, 2304, 800]
    assert entry["window_visible_under_overlay"] is False and entry["overlay_closed"]
    (x0, y0), (x1, y1) = DRAG
    assert entry["band_visible"] and entry["band"] == [x0, y0, x1 - x0, y1 - y0]
    assert entry["chip"]["file_size"] == [x1 - x0, y1 - y0]
    assert entry["chip"]["geometry"] == [x0, y0, x1 - x0, y1 - y0, 1.0, 0]
