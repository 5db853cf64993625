"""Prompts with images and video: where the media go and how many tokens they take.

The chat template sees one marker per medium inside a message's text (`]<]image[>[` or
`]<]video[>[`, the markers the M3 processor uses), so the checkpoint's own template decides the
layout around them. The rendered text is then expanded as the reference processor does (MSA.md
§7): an image becomes `]<]start of image[>[` + N x `]<]image[>[` + `]<]end of image[>[`; a video
becomes, per temporal step (two frames), `]<]T.T seconds[>[` and the same bracket of video
tokens. The expansion needs only each medium's size and timestamps, not its pixels, so a prompt's
exact token count is known before any image is resized or any tower runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.messages import IMAGE_MARK, VIDEO_MARK, ImagePart, VideoPart, pixel_digest

from .sizes import FACTOR, TEMPORAL, ImageBudget, MediaError, VideoBudget, check_frames, check_input_size, smart_resize

START, END = "]<]start of image[>[", "]<]end of image[>["
_MARKS = re.compile(re.escape(IMAGE_MARK) + "|" + re.escape(VIDEO_MARK))


@dataclass(frozen=True)
class MediaLayout:
    """How one image or video appears in the prompt."""

    kind: str  # "image" | "video"
    steps: int  # temporal steps (1 for an image)
    per_step: int  # placeholder tokens per step
    timestamps: tuple[float | None, ...]  # per step
    key: str  # content digest: equal media share cache entries, different ones never do

    @property
    def tokens(self) -> int:
        return self.steps * self.per_step


def layout(part, images: ImageBudget = ImageBudget(), videos: VideoBudget = VideoBudget()) -> MediaLayout:
    if isinstance(part, ImagePart):
        height, width = part.pixels.shape[:2]
        check_input_size(height, width, images.max_input_pixels)
        h, w = smart_resize(height, width, min_pixels=images.min_pixels, max_pixels=images.max_pixels)
        return MediaLayout("image", 1, (h // FACTOR) * (w // FACTOR), (None,), pixel_digest(part.pixels))
    if isinstance(part, VideoPart):
        n, height, width = part.frames.shape[:3]
        check_frames(n, videos)
        h, w = smart_resize(height, width, min_pixels=videos.min_pixels, max_pixels=videos.max_pixels)
        steps = -(-n // TEMPORAL)
        times = tuple(float(part.timestamps[min(i * TEMPORAL, n - 1)]) for i in range(steps))
        return MediaLayout("video", steps, (h // FACTOR) * (w // FACTOR), times, pixel_digest(part.frames))
    raise MediaError(f"{type(part).__name__} is not an image or a video")


def expand(text: str, media: list[MediaLayout]) -> str:
    """Replace the markers of `text`, in order, by the placeholder runs of `media`."""
    pieces, at = [], 0
    found = list(_MARKS.finditer(text))
    if len(found) != len(media):
        raise MediaError(
            f"the rendered prompt has {len(found)} media markers for {len(media)} images and videos; "
            "the chat template must keep every message's text as given"
        )
    for match, m in zip(found, media, strict=True):
        if match.group() != (IMAGE_MARK if m.kind == "image" else VIDEO_MARK):
            raise MediaError("the chat template reordered images and videos")
        pieces.append(text[at : match.start()])
        token = IMAGE_MARK if m.kind == "image" else VIDEO_MARK
        for ts in m.timestamps:
            stamp = f"]<]{ts:.1f} seconds[>[" if ts is not None else ""
            pieces.append(stamp + START + token * m.per_step + END)
        at = match.end()
    pieces.append(text[at:])
    return "".join(pieces)


def media_keys(ids: list[int], media: list[MediaLayout], image_id: int, video_id: int) -> list:
    """Cache keys of the prompt's tokens: the id for text, (digest, index) for a placeholder."""
    keys: list[int | tuple[str, int]] = []
    m, j = 0, 0
    for token in ids:
        if token in (image_id, video_id):
            if m >= len(media):
                raise MediaError("the prompt text itself contains image or video placeholder tokens")
            keys.append((media[m].key, j))
            j += 1
            if j == media[m].tokens:
                m, j = m + 1, 0
        else:
            keys.append(token)
    if m != len(media):
        raise MediaError(
            "the tokenizer did not keep the image and video placeholders as single tokens; "
            "is tokenizer.json the one of this model?"
        )
    return keys
