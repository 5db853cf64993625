"""Video ingestion through real OpenCV on videos the test writes: frames at the sampling rate
with their timestamps, the frame budget spread over long videos, short videos, frame size."""

import numpy as np
import pytest

from core.ingest import Limits, ingest_path
from core.ingest.video import frame_size, sample_indices
from tests.ingest.fixtures import frame_color, make_video


def _assert_frames_show(frames: np.ndarray, indices: list[int]) -> None:
    for frame, index in zip(frames, indices):
        middle = frame[frame.shape[0] // 2, frame.shape[1] // 2].astype(int)
        assert np.abs(middle - frame_color(index)).max() < 20, (index, middle)


@pytest.mark.parametrize("codec, suffix", [("mp4v", "mp4"), ("MJPG", "avi")])
def test_one_frame_per_second_with_timestamps(tmp_path, codec, suffix):
    path = make_video(tmp_path / f"clip.{suffix}", seconds=6, fps=10, codec=codec)
    result = ingest_path(path)
    (part,) = result.parts
    assert result.kind == "video" and result.summary == "6 frames over 6.0 s"
    assert part.source.kind == "file" and part.source.path == str(path)
    assert part.frames.shape == (6, 120, 160, 3) and part.frames.dtype == np.uint8
    assert part.timestamps == (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)
    _assert_frames_show(part.frames, [0, 10, 20, 30, 40, 50])


def test_the_sampling_rate_is_configurable(tmp_path):
    path = make_video(tmp_path / "clip.mp4", seconds=3, fps=10)
    part = ingest_path(path, limits=Limits(video_fps=2.0)).parts[0]
    assert part.timestamps == (0.0, 0.5, 1.0, 1.5, 2.0, 2.5)
    _assert_frames_show(part.frames, [0, 5, 10, 15, 20, 25])


def test_a_long_video_gets_the_frame_budget_spread_evenly(tmp_path):
    path = make_video(tmp_path / "long.mp4", seconds=40, fps=4, size=(64, 48))
    result = ingest_path(path, limits=Limits(video_frames=8))
    part = result.parts[0]
    assert result.summary == "8 frames over 40.0 s"
    assert part.timestamps == tuple(float(5 * k) for k in range(8))
    _assert_frames_show(part.frames, [20 * k for k in range(8)])


def test_a_short_video_gets_four_evenly_spaced_frames(tmp_path):
    part = ingest_path(make_video(tmp_path / "short.mp4", seconds=2, fps=10)).parts[0]
    assert part.timestamps == (0.0, 0.5, 1.0, 1.5)
    _assert_frames_show(part.frames, [0, 5, 10, 15])


def test_a_video_of_three_frames_gives_the_three(tmp_path):
    part = ingest_path(make_video(tmp_path / "tiny.mp4", seconds=0.3, fps=10)).parts[0]
    assert part.timestamps == (0.0, 0.1, 0.2)


def test_frames_are_shrunk_to_the_frame_pixel_limit(tmp_path):
    path = make_video(tmp_path / "wide.mp4", seconds=2, fps=5, size=(640, 360))
    frames = ingest_path(path, limits=Limits(frame_pixels=640 * 360 // 4)).parts[0].frames
    assert frames.shape[1:] == (180, 320, 3)


def test_progress_counts_frames(tmp_path):
    seen = []
    ingest_path(make_video(tmp_path / "clip.mp4", seconds=3, fps=5), on_progress=seen.append)
    assert [(p.done, p.total, p.what) for p in seen][-1] == (4, 4, "frame 4 of 4")


def test_sample_indices_rules():
    assert sample_indices(1230, 30.0, rate=1.0, budget=768, minimum=4) == [30 * k for k in range(41)]
    assert sample_indices(36000, 30.0, rate=1.0, budget=768, minimum=4) == [k * 36000 // 768 for k in range(768)]
    assert sample_indices(60, 30.0, rate=1.0, budget=768, minimum=4) == [0, 15, 30, 45]
    assert sample_indices(2, 30.0, rate=1.0, budget=768, minimum=4) == [0, 1]
    assert sample_indices(10, 0.5, rate=1.0, budget=768, minimum=4) == list(range(10))


def test_frame_size_keeps_the_aspect_and_never_enlarges():
    assert frame_size(1920, 1080, 200_704) == (597, 336)
    assert frame_size(320, 240, 200_704) == (320, 240)
