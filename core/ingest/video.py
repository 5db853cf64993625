"""Videos read with OpenCV (its bundled FFmpeg is LGPL): frames sampled with their timestamps.

Frames are taken at `Limits.video_fps` (1 per second by default, the model's rate); a long video
whose count would pass `Limits.video_frames` gets that many spread evenly over its whole length,
and a very short one gets up to `video_min_frames` evenly spaced frames, or all it has. Nearby
samples are reached by decoding forward, distant ones by seeking. Each frame is shrunk to at most
`Limits.frame_pixels` pixels as it is decoded, so memory stays bounded for long 4K videos. A frame
that will not decode is an error (a broken stream), never a silent gap; the sandbox turns a hang
into an error.
"""

from __future__ import annotations

import math
import os

import cv2
import numpy as np

from core.ingest.errors import DamagedFile, TooLarge, UnsupportedFormat
from core.ingest.limits import Limits
from core.ingest.progress import Ingested, Reporter
from core.messages import Source, VideoPart

SEEK_GAP_FRAMES = 48  # a sample further ahead than this is reached by seeking, not by decoding forward
END_SLACK = 0.05  # frames missing in the last 5% are a miscounted length, not a broken stream


def read_video(path: str, limits: Limits, reporter: Reporter) -> Ingested:
    """One `VideoPart` of frames sampled from the video at `path`."""
    _check_bytes(path, limits)
    capture = _open(path)
    try:
        fps, count = _stream_info(path, capture, limits)
        indices = sample_indices(
            count, fps, rate=limits.video_fps, budget=limits.video_frames, minimum=limits.video_min_frames
        )
        frames, decoded = _decode(path, capture, indices, limits, reporter)
    finally:
        capture.release()
    timestamps = tuple(round(i / fps, 3) for i in decoded)
    part = VideoPart(np.stack(frames), timestamps, Source("file", path=path))
    return Ingested((part,), "video", f"{len(frames)} frames over {count / fps:.1f} s", path)


def sample_indices(count: int, fps: float, *, rate: float, budget: int, minimum: int) -> list[int]:
    """Frame indices to decode: one per 1/rate s, or `budget` spread evenly, or at least `minimum`."""
    duration = count / fps
    at_rate = max(1, math.ceil(duration * rate - 1e-9))
    n = min(max(min(at_rate, budget), minimum), count)
    if n == at_rate:
        picks = (round(k * fps / rate) for k in range(n))
    else:
        picks = (k * count // n for k in range(n))
    return sorted({min(p, count - 1) for p in picks})


def frame_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """(width, height) shrunk, keeping the aspect, to at most `max_pixels`; never enlarged."""
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    return max(1, int(width * scale)), max(1, int(height * scale))


def _check_bytes(path: str, limits: Limits) -> None:
    size = os.path.getsize(path)
    if size > limits.video_bytes:
        raise TooLarge(path, f"the video has {size:,} bytes, more than the limit of {limits.video_bytes:,}")


def _open(path: str) -> cv2.VideoCapture:
    if not cv2.videoio_registry.hasBackend(cv2.CAP_FFMPEG):
        raise UnsupportedFormat(path, "this OpenCV build has no FFmpeg backend to decode video")
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise DamagedFile(path, "no decodable video stream was found (damaged, truncated or unsupported codec)")
    return capture


def _stream_info(path: str, capture: cv2.VideoCapture, limits: Limits) -> tuple[float, int]:
    fps = capture.get(cv2.CAP_PROP_FPS)
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if not (fps > 0 and math.isfinite(fps)) or count <= 0:
        raise DamagedFile(path, f"the video stream reports no usable frame rate or length (fps {fps}, {count} frames)")
    if width * height > limits.image_pixels:
        raise TooLarge(path, f"video frames of {width}x{height} exceed the limit of {limits.image_pixels:,} pixels")
    return fps, count


def _decode(path, capture, indices, limits, reporter) -> tuple[list[np.ndarray], list[int]]:
    frames: list[np.ndarray] = []
    decoded: list[int] = []
    position = 0
    for k, index in enumerate(indices, start=1):
        reporter.check()
        frame = _frame_at(capture, index, position)
        if frame is None:
            if frames and index >= (1 - END_SLACK) * indices[-1]:
                break
            raise DamagedFile(path, f"frame {index} of the video could not be decoded; the stream is broken")
        frames.append(_to_rgb(frame, limits.frame_pixels))
        decoded.append(index)
        position = index + 1
        reporter.progress(k, len(indices), f"frame {k} of {len(indices)}")
    return frames, decoded


def _frame_at(capture: cv2.VideoCapture, index: int, position: int) -> np.ndarray | None:
    """The BGR frame at `index`, given the capture is at `position`; None if it does not decode."""
    if index < position or index - position > SEEK_GAP_FRAMES:
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    else:
        for _ in range(index - position):
            if not capture.grab():
                return None
    ok, frame = capture.read()
    return frame if ok and frame is not None and frame.size else None


def _to_rgb(frame: np.ndarray, max_pixels: int) -> np.ndarray:
    height, width = frame.shape[:2]
    size = frame_size(width, height, max_pixels)
    if size != (width, height):
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)  # [H, W, 3]
