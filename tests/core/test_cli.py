"""`spyglass chat` in a real child process: argument and piped prompts, errors, the same reply
the engine gives in-process."""

import os
import subprocess
import sys
from pathlib import Path

import torch

from core.engine import GenerateOptions
from core.engine.msa import MsaEngine
from core.events import TextDelta
from core.messages import Message, TextPart
from core.engine.options import SamplingParams

ROOT = Path(__file__).resolve().parents[2]


def spyglass(*args, stdin=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "app", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=300, cwd=ROOT)


def test_chat_streams_the_engines_reply(tiny_chat_dir):
    prompt = "what is in this picture?"
    engine = MsaEngine(tiny_chat_dir, device="cpu", dtype=torch.float32)
    engine.load()
    events = engine.generate([Message.text("user", prompt)],
                             GenerateOptions(sampling=SamplingParams(temperature=0.0), max_tokens=10))
    expected = "".join(e.text for e in events if isinstance(e, TextDelta))
    flags = ["chat", "--model", str(tiny_chat_dir), "--device", "cpu", "--temperature", "0", "--max-tokens", "10"]
    run = spyglass(*flags, prompt)
    assert run.returncode == 0, run.stderr
    assert run.stdout.rstrip("\n") == expected and expected
    assert "loading 5/5" in run.stderr and "prompt tokens (0 cached), " in run.stderr
    piped = spyglass(*flags, stdin=prompt)
    assert piped.returncode == 0 and piped.stdout == run.stdout


def test_chat_errors_are_one_line_with_status_2(tiny_chat_dir, tmp_path):
    run = spyglass("chat", "--model", str(tmp_path), "hi")
    assert run.returncode == 2 and "holds no model Spyglass can run" in run.stderr and "Traceback" not in run.stderr
    run = spyglass("chat", "--model", str(tiny_chat_dir), "--device", "cpu", "--context", "16",
                   "the quick brown fox jumps over the lazy dog")
    assert run.returncode == 2 and "16-token context" in run.stderr and "Traceback" not in run.stderr


def test_chat_answers_about_an_image_and_a_video(tiny_vl_dir, tmp_path):
    import cv2
    import numpy as np
    from PIL import Image

    from core.ingest import ingest_path

    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    writer = cv2.VideoWriter(str(tmp_path / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 2.0, (64, 48))
    for i in range(10):  # 5 seconds at 2 fps: 5 frames sampled at 1 fps, at least 4
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:, i * 6:i * 6 + 8] = 255
        writer.write(frame)
    writer.release()
    parts = [*ingest_path(tmp_path / "photo.png").parts, *ingest_path(tmp_path / "clip.avi").parts]
    engine = MsaEngine(tiny_vl_dir, device="cpu", dtype=torch.float32)
    engine.load()
    message = Message("user", (*parts, TextPart("what do you see?")))
    events = list(engine.generate([message], GenerateOptions(sampling=SamplingParams(temperature=0.0), max_tokens=6)))
    expected = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert events[-2].prompt_tokens > 30  # the media are in the prompt
    run = spyglass("chat", "--model", str(tiny_vl_dir), "--device", "cpu", "--temperature", "0", "--max-tokens",
                   "6", "--image", str(tmp_path / "photo.png"), "--video", str(tmp_path / "clip.avi"),
                   "what do you see?")
    assert run.returncode == 0, run.stderr
    assert run.stdout.rstrip("\n") == expected
    assert f"[{events[-2].prompt_tokens} prompt tokens" in run.stderr
    bad = spyglass("chat", "--model", str(tiny_vl_dir), "--image", str(tmp_path / "clip.avi"), "hi")
    assert bad.returncode == 2 and "clip.avi is a video file; --image takes images" in bad.stderr


def test_load_progress_shows_sizes_in_a_readable_unit(capsys):
    from core.cli import _show_progress
    from core.events import LoadProgress

    _show_progress(LoadProgress(3, 10, 12_300_000, 31_500_000))
    _show_progress(LoadProgress(10, 10, 8_000_000_000, 8_000_000_000))
    _show_progress(LoadProgress(1, 1, 0, 0))
    assert capsys.readouterr().err == (
        "\rloading 3/10 (12.30 of 31.50 MB)\rloading 10/10 (8.00 of 8.00 GB)\n\rloading 1/1\n"
    )
