"""The Action type and its coordinate spaces: a point converts exactly between the model's image,
the screenshot and the screen (offset monitor, HiDPI scale), and malformed actions are refused."""

import pytest

from core.desktop import Action, Frame, Point
from core.messages import ScreenGeometry

# a 2x HiDPI monitor to the right of another: its screenshot is 2560x1600 physical pixels, the
# engine showed the model a 1288x812 image of it
FRAME = Frame("shot-7", ScreenGeometry(left=1920, top=0, width=1280, height=800, scale=2.0, monitor=2),
              pixels=(2560, 1600), model=(1288, 812))


def test_points_convert_between_the_three_spaces():
    centre = Point(644, 406, "model")
    assert FRAME.convert(centre, "screenshot") == Point(1280, 800, "screenshot")
    assert FRAME.convert(centre, "screen") == Point(1920 + 640, 400, "screen")
    back = FRAME.convert(FRAME.convert(centre, "screen"), "model")
    assert back.space == "model" and (back.x, back.y) == pytest.approx((644, 406))
    assert FRAME.contains(Point(1925, 5, "screen")) and not FRAME.contains(Point(1900, 5, "screen"))


def test_an_action_records_its_screenshot_and_tier():
    click = Action("click", "shot-7", point=Point(10, 20, "model"))
    assert click.tier == "act" and click.screenshot_id == "shot-7"
    assert Action("wait", "shot-7", seconds=1.5).tier == "observe"
    drag = Action("drag", "shot-7", point=Point(1, 1, "screen"), end=Point(5, 5, "screen"))
    assert drag.end.space == "screen"


@pytest.mark.parametrize("kwargs,message", [
    (dict(kind="teleport"), "action 'teleport' is unknown"),
    (dict(kind="click"), "a click action needs a point"),
    (dict(kind="type", point=Point(1, 1, "model"), text="x"), "a type action takes no point"),
    (dict(kind="type"), "a type action needs text"),
    (dict(kind="key"), "a key action presses one key, not 0"),
    (dict(kind="wait", seconds=600), "at most 30 seconds"),
    (dict(kind="drag", point=Point(1, 1, "model")), "a drag needs an end point"),
])
def test_malformed_actions_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Action(screenshot_id="s", **kwargs)


def test_an_unknown_space_is_refused():
    with pytest.raises(ValueError, match="coordinate space 'pixels' is unknown"):
        Point(1, 2, "pixels")
    with pytest.raises(ValueError, match="coordinate space 'print' is unknown"):
        FRAME.convert(Point(1, 2, "model"), "print")


@pytest.mark.parametrize("left,top,width,height,scale", [
    (-1920, 0, 1920, 1080, 1.0),  # a monitor left of the primary: negative desktop coordinates
    (-1280, -400, 1280, 720, 1.5),  # up and to the left, 150 % scaling: 1920x1080 pixels
    (2560, 312, 1440, 900, 2.0),  # right of a 2560 primary, lower down, Retina
])
def test_points_land_exactly_on_monitors_with_offsets_and_scales(left, top, width, height, scale):
    pixels = (round(width * scale), round(height * scale))
    frame = Frame("s", ScreenGeometry(left, top, width, height, scale=scale, monitor=2), pixels=pixels, model=(1280, 720))
    for fx, fy in [(0, 0), (0.5, 0.5), (0.999, 0.999), (0.25, 0.75)]:
        screen = Point(left + fx * width, top + fy * height, "screen")
        model = frame.convert(screen, "model")
        assert model.x == pytest.approx(fx * 1280) and model.y == pytest.approx(fy * 720)
        back = frame.convert(model, "screen")
        assert (back.x, back.y) == pytest.approx((screen.x, screen.y))
        assert frame.contains(screen)
    assert not frame.contains(Point(left - 1, top, "screen")) and not frame.contains(Point(left, top + height, "screen"))
