"""The bounds every ingestion runs under, in one frozen dataclass with sane defaults.

Limits are checked before work is done (file size before opening, declared image size before
decoding, page count before rendering), so a hostile file costs an error, not the machine. The
time bounds are enforced by the sandbox: `stall_seconds` is the longest the parser may go without
reporting progress (a hang becomes `TimedOut` within it), `total_seconds` caps a whole file.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

MIB = 1 << 20
GIB = 1 << 30


@dataclass(frozen=True)
class Limits:
    image_bytes: int = 50 * MIB  # largest image file read
    image_pixels: int = 100_000_000  # largest declared width x height decoded
    pdf_bytes: int = 1 * GIB
    pdf_pages: int = 300  # most pages read in one call; choose a page range for more
    page_pixels: int = 451_584  # render budget of one PDF page image (the planner's default)
    page_aspect: float = 200.0  # a page longer than this many times its width (or the reverse) is not rendered
    video_bytes: int = 16 * GIB
    video_fps: float = 1.0  # frames sampled per second of video
    video_frames: int = 768  # most frames sampled from one video, spread evenly
    video_min_frames: int = 4  # fewest frames sampled when the video has them
    frame_pixels: int = 200_704  # a sampled frame is shrunk to at most this many pixels
    stall_seconds: float = 4.0  # longest silence from the parser before it counts as hung
    total_seconds: float = 900.0  # longest time for one file
    memory_bytes: int = 6 * GIB  # address-space cap of the parser process (Linux)

    def __post_init__(self) -> None:
        for f in fields(self):
            if not getattr(self, f.name) > 0:
                raise ValueError(f"Limits.{f.name} must be positive, got {getattr(self, f.name)!r}")
        if self.video_min_frames > self.video_frames:
            raise ValueError(
                f"Limits.video_min_frames ({self.video_min_frames}) exceeds video_frames ({self.video_frames})"
            )
