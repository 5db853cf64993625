"""What of a message goes to the model: a pure function from parts and a media plan to a `Plan`.

The planner is engine-neutral: image and video costs come from the engine's `MediaPlan`
(core/engine/media.py), which knows its model's arithmetic; with no plan (a model that reads no
media) every image and video is left out and named. Text costs `count_text_tokens(text)` (by
default len/4 + 1, an approximation; pass the engine's count for exact figures). When the parts
do not fit, cuts are made in this order: page images of PDF pages whose text is kept, then video
frames (thinned evenly, down to the plan's minimum), then whole parts from the end of the
message; typed text is never cut (a plan that cannot hold it raises `PlanError`). Every cut is
listed in `Plan.omitted`, naming file, page or frames. Pixels are never resized here: the engine
resizes what it is given to its own model's size.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from core.messages import ImagePart, TextPart, VideoPart

if TYPE_CHECKING:
    from core.engine.media import MediaPlan

NO_MEDIA = "the model reads no images or videos"


@dataclass(frozen=True)
class Plan:
    parts: tuple  # the parts to send, in order (a thinned video holds only its kept frames)
    omitted: tuple[str, ...]  # what was left out and why, for the person to read
    tokens: int  # tokens of `parts` under the media plan and the text count


class PlanError(ValueError):
    """Even the typed text alone does not fit the context."""


def approx_text_tokens(text: str) -> int:
    """A rough token count (about 4 characters a token) for when no tokenizer is at hand."""
    return len(text) // 4 + 1


@dataclass
class _Item:
    index: int
    part: TextPart | ImagePart | VideoPart
    tokens: int
    twin: bool = False  # a PDF page image whose page text is also in the message
    kept: bool = True
    frames: list[int] = field(default_factory=list)  # video: indices of the frames kept
    refused: str = ""  # why the model will not take this medium


def plan_parts(
    parts: Sequence,
    *,
    context_tokens: int,
    media: MediaPlan | None,
    max_images: int = 16,
    count_text_tokens: Callable[[str], int] | None = None,
) -> Plan:
    """Decide which parts (and how many frames) fit the context under `media`; list the rest."""
    count = count_text_tokens or approx_text_tokens
    items: list[_Item] = []
    cuts: list[tuple] = []
    for i, part in enumerate(parts):
        item = _measure(i, part, count, media)
        if item.tokens < 0:
            item.tokens = 0
            _drop(item, NO_MEDIA if media is None else item.refused, cuts)
        items.append(item)
    _mark_twins(items)
    _limit_images(items, max_images, cuts)
    _fit_context(items, context_tokens, media, cuts)
    kept = tuple(_final_part(item) for item in items if item.kept)
    return Plan(kept, _describe(cuts), sum(item.tokens for item in items if item.kept))


def _measure(index: int, part, count: Callable[[str], int], media: MediaPlan | None) -> _Item:
    """The part's cost; -1 (with the reason in `refused`) for media the model will not take."""
    if isinstance(part, TextPart):
        return _Item(index, part, count(part.text))
    if not isinstance(part, (ImagePart, VideoPart)):
        raise TypeError(f"part {index} is a {type(part).__name__}, not a TextPart, ImagePart or VideoPart")
    if media is None:
        return _Item(index, part, -1)
    try:
        if isinstance(part, ImagePart):
            return _Item(index, part, media.image_tokens(*part.pixels.shape[:2]))
        n, h, w = part.frames.shape[:3]
        return _Item(index, part, media.video_tokens(n, h, w), frames=list(range(n)))
    except ValueError as err:
        return _Item(index, part, -1, refused=f"the model refuses it: {err}")


def _mark_twins(items: list[_Item]) -> None:
    texts = {_page_key(i.part) for i in items if isinstance(i.part, TextPart) and i.part.source.kind == "pdf_page"}
    for item in items:
        item.twin = (
            isinstance(item.part, ImagePart) and item.part.source.kind == "pdf_page" and _page_key(item.part) in texts
        )


def _page_key(part) -> tuple:
    return part.source.path, part.source.page


def _limit_images(items: list[_Item], max_images: int, cuts: list) -> None:
    images = [i for i in items if isinstance(i.part, ImagePart)]
    excess = len(images) - max_images
    reason = f"over the limit of {max_images} images"
    for want_twin in (True, False):
        for item in reversed(images):
            if excess > 0 and item.kept and (item.twin or not want_twin):
                _drop(item, reason, cuts)
                excess -= 1


def _fit_context(items: list[_Item], context: int, media: MediaPlan | None, cuts: list) -> None:
    reason = f"over the context of {context} tokens"
    over = sum(i.tokens for i in items if i.kept) - context
    for item in reversed(items):
        if over > 0 and item.kept and item.twin:
            over -= _drop(item, reason, cuts)
    for item in reversed(items):
        if over > 0 and item.kept and isinstance(item.part, VideoPart):
            over -= _thin(item, over, media, reason, cuts)
    for item in reversed(items):
        if over > 0 and item.kept and not _is_typed(item.part):
            over -= _drop(item, reason, cuts)
    if over > 0:
        raise PlanError(
            f"the typed text alone needs {over + context} tokens, more than the context of {context}; "
            "shorten the message or use a model with a longer context"
        )


def _is_typed(part) -> bool:
    return isinstance(part, TextPart) and part.source.kind == "typed"


def _drop(item: _Item, reason: str, cuts: list) -> int:
    item.kept = False
    cuts[:] = [cut for cut in cuts if cut[0] != item.index]  # a thinned video, now dropped whole
    cuts.append((item.index, *_label(item.part), reason))
    return item.tokens


def _thin(item: _Item, over: int, media: MediaPlan | None, reason: str, cuts: list) -> int:
    """Keep fewer frames, evenly spread, to save `over` tokens; tokens saved (0 if it cannot)."""
    assert isinstance(item.part, VideoPart)  # only videos are thinned
    n, h, w = len(item.frames), *item.part.frames.shape[1:3]
    if media is None:
        return 0
    low = min(media.min_video_frames, n)
    keep = next((k for k in range(n - 1, low - 1, -1) if media.video_tokens(k, h, w) <= item.tokens - over), 0)
    if keep < low or keep == 0:
        return 0
    item.frames = [item.frames[k * n // keep] for k in range(keep)]
    before, item.tokens = item.tokens, media.video_tokens(keep, h, w)
    name = _name(item.part.source.path)
    cuts.append((item.index, name, None, f"{n - keep} of {n} video frames (kept {keep}, spread evenly)", reason))
    return before - item.tokens


def _label(part) -> tuple[str, int | None, str]:
    """(file name, page, what) of a part, for an omission line."""
    source = part.source
    name = (
        _name(source.path)
        if source.path
        else {"screenshot": "screenshot", "clipboard": "pasted text", "typed": "typed text"}.get(
            source.kind, source.kind
        )
    )
    if isinstance(part, VideoPart):
        return name, None, f"video, all {part.frames.shape[0]} frames"
    if isinstance(part, TextPart):
        return name, source.page, f"text ({len(part.text):,} characters)" if source.page is None else "text"
    if source.kind == "video_frame":
        return name, None, f"frame at {source.timestamp:.1f} s"
    return name, source.page, "page image" if source.kind == "pdf_page" else "image"


def _name(path: str | None) -> str:
    return os.path.basename(path) if path else "video"


def _describe(cuts: list[tuple]) -> tuple[str, ...]:
    """Omission lines, in message order, a page's text and image together, runs of pages as ranges."""
    by_page: dict[tuple, list] = {}
    for index, name, page, what, reason in sorted(cuts):
        key = (name, page, reason) if page is not None else (index, name, None, reason)
        by_page.setdefault(key, [index, name, page, [], reason])[3].append(what)
    runs: list[list] = []
    for _index, name, page, whats, reason in by_page.values():
        what = " and ".join(whats)
        last = runs[-1] if runs else None
        if last and page is not None and last[0] == (name, what, reason) and last[2] == page - 1:
            last[2] = page
        else:
            runs.append([(name, what, reason), page, page])
    return tuple(_line(*run) for run in runs)


def _line(key: tuple, first: int | None, last: int | None) -> str:
    name, what, reason = key
    where = name if first is None else f"{name} page {first}" if first == last else f"{name} pages {first}-{last}"
    return f"{where}: {what} left out ({reason})"


def _final_part(item: _Item):
    part = item.part
    if isinstance(part, VideoPart) and len(item.frames) < part.frames.shape[0]:
        frames = np.ascontiguousarray(part.frames[item.frames])
        return VideoPart(frames, tuple(part.timestamps[k] for k in item.frames), part.source)
    return part
