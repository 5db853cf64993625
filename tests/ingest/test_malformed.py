"""A generated corpus of malformed inputs: every one must become the typed `IngestError` that names
the file and the problem (a reader that hung instead would end as `TimedOut`, which fails the
test), and this process must read a good file afterwards. How long each takes is a benchmark
(`benchmarks/ingest.py --malformed`), not a test: wall time depends on the machine's load. Also
the sandbox itself: a hang, a native crash and runaway memory in the reader."""

import io
import os
import time

import numpy as np
import pytest
from PIL import Image

from core.ingest import (DamagedFile, EmptyFile, IngestError, Limits, ParserCrashed, TimedOut, TooLarge,
                         UnreadableFile, UnsupportedFormat, ingest_path)
from core.ingest.sandbox import run_bounded
from tests.ingest.fixtures import make_deep_page_tree_pdf, make_nested_pdf, make_pdf, make_video
from tests.ingest.test_images import png_header_only


def _encoded(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(buffer, fmt)
    return buffer.getvalue()


def _corrupt_middle(data: bytes) -> bytes:
    broken, rng = bytearray(data), np.random.default_rng(2)
    for offset in range(len(data) // 3, 2 * len(data) // 3, 50):
        broken[offset: offset + 20] = rng.integers(0, 256, 20, dtype=np.uint8).tobytes()
    return bytes(broken)


def _video(tmp_path, codec="mp4v", suffix="mp4") -> bytes:
    return make_video(tmp_path / f"source.{suffix}", seconds=8, fps=10, codec=codec).read_bytes()


RANDOM = np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes()

CORPUS = {  # name: (make bytes from tmp_path, expected error, words in the message)
    "empty.pdf": (lambda t: b"", EmptyFile, "empty"),
    "empty.png": (lambda t: b"", EmptyFile, "empty"),
    "empty.mp4": (lambda t: b"", EmptyFile, "empty"),
    "random.pdf": (lambda t: RANDOM, UnsupportedFormat, "not a PDF, image or video"),
    "random.png": (lambda t: RANDOM, UnsupportedFormat, "not a PDF, image or video"),
    "random.jpg": (lambda t: RANDOM, UnsupportedFormat, "not a PDF, image or video"),
    "random.mp4": (lambda t: RANDOM, UnsupportedFormat, "not a PDF, image or video"),
    "heic.heic": (lambda t: b"\0\0\0\x18ftypheic" + RANDOM, UnsupportedFormat, "HEIF"),
    "pdf-magic-then-random.pdf": (lambda t: b"%PDF-1.7\n" + RANDOM, DamagedFile, "damaged"),
    "png-magic-then-random.png": (lambda t: b"\x89PNG\r\n\x1a\n" + RANDOM, DamagedFile, "not that of a valid"),
    "mp4-magic-then-random.mp4": (lambda t: b"\0\0\0\x20ftypisom" + RANDOM, DamagedFile, "no decodable video"),
    "truncated.pdf": (lambda t: make_pdf(t / "s.pdf", ["a", None]).read_bytes()[:-400], DamagedFile, "damaged"),
    "truncated.png": (lambda t: _encoded("PNG")[:5000], DamagedFile, "truncated"),
    "truncated.jpg": (lambda t: _encoded("JPEG")[:3000], DamagedFile, "truncated"),
    "truncated.webp": (lambda t: _encoded("WEBP")[:3000], DamagedFile, "damaged"),
    "truncated.gif": (lambda t: _encoded("GIF")[:3000], DamagedFile, "truncated"),
    "truncated.bmp": (lambda t: _encoded("BMP")[:3000], DamagedFile, "truncated"),
    "truncated.tiff": (lambda t: _encoded("TIFF")[:3000], DamagedFile, "truncated"),
    "truncated.mp4": (lambda t: (d := _video(t))[: len(d) // 2], DamagedFile, "no decodable video"),
    "truncated.avi": (lambda t: (d := _video(t, "MJPG", "avi"))[: len(d) // 2], DamagedFile, "stream is broken"),
    "broken-stream.mp4": (lambda t: _corrupt_middle(_video(t)), DamagedFile, "stream is broken"),
    "broken-stream.avi": (lambda t: _corrupt_middle(_video(t, "MJPG", "avi")), DamagedFile, "stream is broken"),
    "huge-declared.png": (lambda t: png_header_only(100_000, 100_000), TooLarge, "limit of 100,000,000 pixels"),
    "deep-page-tree.pdf": (lambda t: make_deep_page_tree_pdf(t / "s.pdf").read_bytes(), DamagedFile, "page 1"),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_malformed_input_is_a_typed_error(tmp_path, name):
    make, error, words = CORPUS[name]
    path = tmp_path / name
    path.write_bytes(make(tmp_path))
    with pytest.raises(error) as caught:
        ingest_path(path)
    assert isinstance(caught.value, IngestError) and isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(f"{path}: ") and words in str(caught.value)
    good = tmp_path / "good.png"
    Image.new("RGB", (4, 4)).save(good)
    assert ingest_path(good).summary == "1 image 4x4"  # the process lives on


def test_nesting_in_a_part_of_the_page_nobody_needs_still_reads(tmp_path):
    result = ingest_path(make_nested_pdf(tmp_path / "nested.pdf"))
    assert result.parts[0].text.strip() == "nested"


def test_a_missing_file_and_a_folder_are_unreadable(tmp_path):
    with pytest.raises(UnreadableFile, match="missing.pdf: the file cannot be opened"):
        ingest_path(tmp_path / "missing.pdf")
    with pytest.raises(UnreadableFile):
        ingest_path(tmp_path)


def hang(reporter):
    reporter.progress(0, 1, "about to hang")
    while True:
        time.sleep(1)


def crash(reporter):
    os.abort()


def hoard(reporter):
    return bytearray(3 << 30)


def boom(reporter):
    raise KeyError("internal")


def test_a_hanging_reader_becomes_timed_out_after_its_stall_bound():
    with pytest.raises(TimedOut, match=r"x\.bin: the reader made no progress for 4 s"):
        run_bounded(hang, (), path="x.bin", limits=Limits())


def test_the_total_time_bound_holds_even_with_progress():
    with pytest.raises(TimedOut, match="longer than 1 s"):
        run_bounded(hang, (), path="x.bin", limits=Limits(stall_seconds=30, total_seconds=1))


def test_a_crashing_reader_is_a_typed_error():
    with pytest.raises(ParserCrashed, match=r"x\.bin: the reader process died \(killed by SIGABRT"):
        run_bounded(crash, (), path="x.bin", limits=Limits())


def test_the_memory_bound_turns_a_runaway_reader_into_an_error():
    with pytest.raises(TooLarge, match=r"x\.bin: reading it needs more than the 2 GiB memory bound "
                                        r"\(2,147,483,648 bytes of address space\)"):
        run_bounded(hoard, (), path="x.bin", limits=Limits(memory_bytes=2 << 30))


def test_an_unexpected_reader_failure_is_still_a_typed_error():
    with pytest.raises(DamagedFile, match=r"x\.bin: it could not be decoded \(KeyError"):
        run_bounded(boom, (), path="x.bin", limits=Limits())
