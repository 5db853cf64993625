"""The M3 vision sizes: how an image or a video becomes pixels and tokens, without torch.

The resize rule (`smart_resize`: multiples of 28, area within the budget, aspect ratio kept) and
the token arithmetic (one token per 28 x 28 patch; video frames in pairs) are those of the
`minimax_m3_vl` processors in transformers. They live apart from the pixel work in
`preprocess.py` so that planning a message (`M3MediaPlan`, the MSA engine's media plan) needs
neither torch nor pixels: sizes alone decide the count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PATCH, TEMPORAL, MERGE = 14, 2, 2
FACTOR = PATCH * MERGE  # 28: one text token covers 28 x 28 pixels
MAX_ASPECT = 200


class MediaError(ValueError):
    """An image or video cannot be given to the model as it is; the message says why."""


@dataclass(frozen=True)
class ImageBudget:
    min_pixels: int = 4 * 28 * 28  # 3,136: smaller images are scaled up to this area
    max_pixels: int = 451_584  # 672 x 672: at most 576 tokens
    max_input_pixels: int = 200_000_000  # refuse anything larger before touching it


@dataclass(frozen=True)
class VideoBudget:
    min_pixels: int = 4 * 28 * 28  # per frame
    max_pixels: int = 768 * 28 * 28
    max_frames: int = 768  # frames arrive sampled (core.ingest: 1 per second by default, 4 to 768)
    segment_steps: int = 4  # temporal steps (frame pairs) per attention segment


def smart_resize(height: int, width: int, *, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """The resized (height, width): multiples of 28, area within [min_pixels, max_pixels]."""
    if min(height, width) < 1:
        raise MediaError(f"an image of {width}x{height} pixels has no area")
    if max(height, width) / min(height, width) > MAX_ASPECT:
        raise MediaError(
            f"a {width}x{height} image is more than {MAX_ASPECT} times longer than wide; crop it before sending"
        )
    h_bar = round(height / FACTOR) * FACTOR
    w_bar = round(width / FACTOR) * FACTOR
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(FACTOR, math.floor(height / beta / FACTOR) * FACTOR)
        w_bar = max(FACTOR, math.floor(width / beta / FACTOR) * FACTOR)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / FACTOR) * FACTOR
        w_bar = math.ceil(width * beta / FACTOR) * FACTOR
    return h_bar, w_bar


def check_input_size(height: int, width: int, limit: int) -> None:
    if height * width > limit:
        raise MediaError(
            f"a {width}x{height} image has {height * width:,} pixels, more than the "
            f"{limit:,} accepted; downscale it first"
        )


def check_frames(frames: int, budget: VideoBudget) -> None:
    if frames < 1:
        raise MediaError("the video has no frames")
    if frames > budget.max_frames:
        raise MediaError(f"the video has {frames} sampled frames, more than the {budget.max_frames} the model takes")


def image_tokens(height: int, width: int, budget: ImageBudget) -> int:
    h, w = smart_resize(height, width, min_pixels=budget.min_pixels, max_pixels=budget.max_pixels)
    return (h // FACTOR) * (w // FACTOR)


def video_steps(frames: int) -> int:
    """Temporal steps of a video: frames in pairs, an odd last frame repeated."""
    return -(-frames // TEMPORAL)


@dataclass(frozen=True)
class M3MediaPlan:
    """The MSA engine's media plan (core.engine.media.MediaPlan) for the M3 vision tower."""

    images: ImageBudget = ImageBudget()
    videos: VideoBudget = VideoBudget()
    min_video_frames: int = 4

    def image_tokens(self, height: int, width: int) -> int:
        check_input_size(height, width, self.images.max_input_pixels)
        return image_tokens(height, width, self.images)

    def image_size(self, height: int, width: int) -> tuple[int, int]:
        return smart_resize(height, width, min_pixels=self.images.min_pixels, max_pixels=self.images.max_pixels)

    def video_tokens(self, frames: int, height: int, width: int) -> int:
        check_frames(frames, self.videos)
        h, w = smart_resize(height, width, min_pixels=self.videos.min_pixels, max_pixels=self.videos.max_pixels)
        return video_steps(frames) * (h // FACTOR) * (w // FACTOR)
