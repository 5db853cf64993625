"""Ingestion speed on the CPU: pages per second for PDFs, sampled frames per second for video.

Generates its inputs in a temporary folder (a 200-page text PDF, a 50-page image PDF, a
10-minute 1080p video written by OpenCV's VideoWriter with mp4v at 5 fps to keep generation
short), then times `ingest_path` on each end to end, sandbox included, with default limits.
PDFs take the median of three runs; the video runs once. Prints one table; `--json PATH` also
writes the numbers. Run from the repository root: `python benchmarks/ingest.py`.

`--malformed` instead times the malformed corpus of tests/ingest/test_malformed.py: seconds from
`ingest_path` to its typed error for each file (SAFETY.md: a malformed file costs at most a few
seconds; target 5 s each). A wall-clock figure, so a benchmark and never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.ingest import ingest_path  # noqa: E402
from tests.ingest.fixtures import make_image_pdf, make_pdf  # noqa: E402

VIDEO_SECONDS, VIDEO_FPS, VIDEO_SIZE = 600, 5, (1920, 1080)


def make_long_video(path: Path) -> Path:
    """10 minutes of 1080p: a bar sweeping over a gradient, so each frame differs."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), VIDEO_FPS, VIDEO_SIZE)
    width, height = VIDEO_SIZE
    base = np.tile(np.linspace(0, 255, width, dtype=np.uint8)[None, :, None], (height, 1, 3))
    for i in range(VIDEO_SECONDS * VIDEO_FPS):
        frame = base.copy()
        x = (i * 16) % width
        frame[:, x: x + 64] = (0, 0, 255)
        writer.write(frame)
    writer.release()
    return path


def timed(path: Path, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = ingest_path(path)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def malformed() -> dict[str, float]:
    """Seconds each malformed file takes to become its typed error (the median of three)."""
    from tests.ingest.test_malformed import CORPUS

    out = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, (make, error, _) in sorted(CORPUS.items()):
            path = Path(folder) / name
            path.write_bytes(make(Path(folder)))
            times = []
            for _ in range(3):
                start = time.perf_counter()
                try:
                    ingest_path(path)
                except error:
                    times.append(time.perf_counter() - start)
                else:
                    raise SystemExit(f"{name} was read without the expected {error.__name__}")
            out[name] = round(statistics.median(times), 3)
    print(f"machine: {_machine()}")
    for name, seconds in out.items():
        print(f"{name:32} {seconds:7.3f} s")
    print(f"{'slowest':32} {max(out.values()):7.3f} s (target: 5 s)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--malformed", action="store_true", help="time the malformed corpus instead")
    args = parser.parse_args()
    if args.malformed:
        result = malformed()
        if args.json:
            args.json.write_text(json.dumps({"machine": _machine(), "malformed_s": result}, indent=2) + "\n")
        return
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        inputs = [
            ("200-page text PDF", lambda: make_pdf(folder / "text.pdf", [_page_text(i) for i in range(200)]), 3, "pages"),
            ("50-page image PDF", lambda: make_image_pdf(folder / "images.pdf", 50), 3, "pages"),
            ("10-min 1080p video (mp4v, 5 fps)", lambda: make_long_video(folder / "long.mp4"), 1, "frames"),
        ]
        for name, make, runs, unit in inputs:
            start = time.perf_counter()
            path = make()
            made = time.perf_counter() - start
            seconds, result = timed(path, runs)
            count = len({p.source.page for p in result.parts}) if unit == "pages" else result.parts[0].frames.shape[0]
            rows.append({"input": name, "bytes": path.stat().st_size, "generate_s": round(made, 2),
                         "summary": result.summary, "seconds": round(seconds, 3), unit: count,
                         "per_second": round(count / seconds, 1), "unit": f"{unit}/s"})
    _print(rows)
    if args.json:
        args.json.write_text(json.dumps({"machine": _machine(), "rows": rows}, indent=2) + "\n")


def _page_text(i: int) -> str:
    return "\n".join(f"Page {i + 1}, line {n}: the quick brown fox jumps over the lazy dog." for n in range(30))


def _machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def _print(rows: list[dict]) -> None:
    print(f"machine: {_machine()}")
    print(f"{'input':36} {'MB':>7} {'made in':>8} {'result':>34} {'time':>8} {'rate':>14}")
    for r in rows:
        print(f"{r['input']:36} {r['bytes'] / 2**20:7.1f} {r['generate_s']:7.1f}s {r['summary']:>34} "
              f"{r['seconds']:7.2f}s {r['per_second']:8.1f} {r['unit']}")


if __name__ == "__main__":
    main()
