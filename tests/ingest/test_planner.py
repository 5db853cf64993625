"""The planner as a pure function on hand-built parts: costs from the engine's media plan (the
M3 rule here, another model's rule, or none), what is cut first, and that every cut is named in
`Plan.omitted`."""

import numpy as np
import pytest

from core.ingest import Plan, PlanError
from core.ingest import plan_parts as _plan_parts
from core.ingest.planner import approx_text_tokens
from core.messages import ImagePart, Source, TextPart, VideoPart
from core.vision.sizes import ImageBudget, M3MediaPlan

M3 = M3MediaPlan()


def plan_parts(parts, **kwargs):
    return _plan_parts(parts, **{"media": M3, **kwargs})


def words(n: int) -> str:
    return "w" * (4 * n - 4)  # approx_text_tokens gives exactly n


def image(h: int, w: int, source: Source = Source("file", path="/x/photo.png")) -> ImagePart:
    return ImagePart(np.zeros((h, w, 3), dtype=np.uint8), source)


def pdf_page(page: int, text_tokens: int | None, h=280, w=280, path="/docs/report.pdf"):
    source = Source("pdf_page", path=path, page=page)
    parts = [TextPart(words(text_tokens), source)] if text_tokens else []
    return parts + [image(h, w, source)]


def video(n: int, h=56, w=56) -> VideoPart:
    frames = np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, h, w, 3), dtype=np.uint8)
    return VideoPart(frames, tuple(float(i) for i in range(n)), Source("file", path="/v/clip.mp4"))


def test_the_m3_token_rule():
    assert M3.image_size(1080, 1920) == (504, 896)
    assert M3.image_tokens(1080, 1920) == 18 * 32
    assert M3.image_size(30, 50) == (56, 84)  # scaled up to at least 3,136 pixels, as the model does
    assert M3.image_tokens(10, 10) == 4
    assert M3.video_tokens(5, 56, 56) == 3 * 4  # frames in pairs, the odd one padded
    assert approx_text_tokens("abcdefgh") == 3


def test_everything_that_fits_goes_in_unresized_in_order():
    big = image(1080, 1920)
    parts = [TextPart("hello"), big, *pdf_page(1, 10)]
    plan = plan_parts(parts, context_tokens=10_000)
    assert isinstance(plan, Plan) and plan.omitted == ()
    assert [type(p) for p in plan.parts] == [TextPart, ImagePart, TextPart, ImagePart]
    assert plan.parts[1] is big  # the engine resizes for its own model, the planner never does
    assert plan.tokens == 2 + 576 + 10 + 100


class FlatPlan:
    """Another model's arithmetic: 7 tokens an image, 3 a frame, thinned down to 2 frames."""

    min_video_frames = 2

    def image_tokens(self, height, width):
        return 7

    def video_tokens(self, frames, height, width):
        return 3 * frames


def test_the_costs_are_the_engines_own():
    plan = _plan_parts([TextPart(words(10)), image(1080, 1920), video(10)], context_tokens=10 + 7 + 3 * 4,
                       media=FlatPlan())
    assert plan.tokens == 10 + 7 + 12 and plan.parts[2].frames.shape[0] == 4
    assert plan.omitted == ("clip.mp4: 6 of 10 video frames (kept 4, spread evenly) left out "
                            "(over the context of 29 tokens)",)


def test_without_a_media_plan_every_image_and_video_is_left_out_and_named():
    plan = _plan_parts([TextPart("look"), image(56, 56), video(4)], context_tokens=10_000, media=None)
    assert [type(p) for p in plan.parts] == [TextPart] and plan.tokens == 2
    assert plan.omitted == ("photo.png: image left out (the model reads no images or videos)",
                            "clip.mp4: video, all 4 frames left out (the model reads no images or videos)")


def test_media_the_model_refuses_are_left_out_with_its_reason():
    plan = plan_parts([TextPart("look"), image(1, 300)], context_tokens=10_000)
    assert plan.tokens == 2 and len(plan.parts) == 1
    assert "photo.png: image left out (the model refuses it: a 300x1 image is more than 200 times" in plan.omitted[0]


def test_page_images_go_first_then_text_pages_from_the_end():
    parts = [TextPart("question?")] + [p for i in range(1, 5) for p in pdf_page(i, 50)]
    plan = plan_parts(parts, context_tokens=3 + 4 * 50 + 2 * 100)
    assert plan.omitted == ("report.pdf pages 3-4: page image left out (over the context of 403 tokens)",)
    assert plan.tokens == 403
    plan = plan_parts(parts, context_tokens=3 + 2 * 50)
    assert plan.omitted == ("report.pdf pages 1-2: page image left out (over the context of 103 tokens)",
                            "report.pdf pages 3-4: text and page image left out (over the context of 103 tokens)")
    assert [p.source.page for p in plan.parts[1:]] == [1, 2]


def test_scanned_pages_are_kept_as_images_when_they_fit():
    parts = [*pdf_page(1, 40), *pdf_page(2, None)]
    plan = plan_parts(parts, context_tokens=40 + 100)
    assert [(type(p).__name__, p.source.page) for p in plan.parts] == [("TextPart", 1), ("ImagePart", 2)]
    assert plan.omitted == ("report.pdf page 1: page image left out (over the context of 140 tokens)",)


def test_video_frames_are_thinned_evenly_before_anything_is_dropped():
    parts = [TextPart(words(10)), video(40)]  # 20 pairs of 4 tokens
    plan = plan_parts(parts, context_tokens=10 + 4 * 5)
    clip = plan.parts[1]
    assert clip.frames.shape[0] == 10 and clip.timestamps == tuple(float(4 * k) for k in range(10))
    assert [int(f[0, 0, 0]) for f in clip.frames] == [4 * k for k in range(10)]
    assert plan.omitted == ("clip.mp4: 30 of 40 video frames (kept 10, spread evenly) left out "
                            "(over the context of 30 tokens)",)
    assert plan.tokens == 30


def test_a_video_that_cannot_keep_four_frames_is_left_out_whole():
    plan = plan_parts([TextPart(words(10)), video(40)], context_tokens=10 + 4)
    assert [type(p) for p in plan.parts] == [TextPart]
    assert plan.omitted == ("clip.mp4: video, all 40 frames left out (over the context of 14 tokens)",)


def test_the_image_limit_drops_twin_page_images_then_later_images():
    parts = [image(56, 56, Source("file", path=f"/p/{i}.png")) for i in range(3)] + pdf_page(1, 5)
    plan = plan_parts(parts, context_tokens=10_000, max_images=3)
    assert plan.omitted == ("report.pdf page 1: page image left out (over the limit of 3 images)",)
    plan = plan_parts(parts, context_tokens=10_000, max_images=1)
    assert plan.omitted == ("1.png: image left out (over the limit of 1 images)",
                            "2.png: image left out (over the limit of 1 images)",
                            "report.pdf page 1: page image left out (over the limit of 1 images)")


def test_typed_text_is_never_cut_and_too_much_of_it_is_refused():
    parts = [TextPart(words(50)), image(280, 280), TextPart(words(20))]
    plan = plan_parts(parts, context_tokens=80)
    assert [p.text for p in plan.parts] == [words(50), words(20)]
    assert plan.omitted == ("photo.png: image left out (over the context of 80 tokens)",)
    with pytest.raises(PlanError, match="needs 70 tokens, more than the context of 60"):
        plan_parts(parts, context_tokens=60)


def test_the_image_budget_sets_the_cost_and_a_screenshot_is_named():
    shot = image(800, 1280, Source("screenshot"))
    plan = plan_parts([shot], context_tokens=10_000, media=M3MediaPlan(images=ImageBudget(max_pixels=28 * 28 * 100)))
    h, w = M3MediaPlan(images=ImageBudget(max_pixels=28 * 28 * 100)).image_size(800, 1280)
    assert h * w <= 28 * 28 * 100 and plan.tokens == (h // 28) * (w // 28) < 100
    assert plan_parts([shot], context_tokens=10).omitted == ("screenshot: image left out (over the context of 10 tokens)",)


def test_a_custom_token_counter_is_used():
    plan = plan_parts([TextPart("a b c d e")], context_tokens=100, count_text_tokens=lambda s: len(s.split()))
    assert plan.tokens == 5


def test_the_input_parts_are_not_changed():
    clip = video(40)
    before = clip.frames.copy()
    plan_parts([clip], context_tokens=20)
    assert np.array_equal(clip.frames, before) and len(clip.timestamps) == 40
