"""A media plan: how one engine's model turns an image or a video into tokens.

Each backend knows its own arithmetic (the M3 tower's 28-pixel patches and frame pairs, a GGUF
projector's, a server's), so the engine hands a `MediaPlan` to whoever plans a message
(`core.ingest.plan_parts`, `core.chat`) instead of the planner assuming one model. A plan counts
from sizes alone, never pixels, and raises `ValueError` naming the problem for media the model
refuses (too large, too elongated, too many frames). An engine whose model reads no media has
no plan (`None`): the planner then leaves every image and video out and says so. The engine
resizes pixels itself when it runs, so nothing upstream pre-resizes for one model.
"""

from __future__ import annotations

from typing import Protocol


class MediaPlan(Protocol):
    @property
    def min_video_frames(self) -> int:
        """A video is thinned no further than this; below it, it is left out whole."""
        ...

    def image_tokens(self, height: int, width: int) -> int:
        """Tokens an image of `height` x `width` pixels costs."""
        ...

    def video_tokens(self, frames: int, height: int, width: int) -> int:
        """Tokens a video of `frames` sampled frames of `height` x `width` costs (frames excluded
        from the count: timestamps and other text the template adds)."""
        ...
