"""The self-test's checks. Each returns a short line of what it saw, or raises saying what failed.

The window check opens the real MainWindow (settings and history in the test's temporary
folders) and waits until X has exposed it; the screenshot is taken while it is shown, so a grab
that comes back blank, or without the window in it, fails. Ingestion goes through
`core.ingest.ingest_path`, the bounded child process the app uses; the GGUF reply goes through
the engine registry and llama.cpp's child process, as a chosen model would.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from app.selftest import media


class WindowCheck:
    """Opens the window on `open`, keeps it shown for the other checks, closes it on exit."""

    def __init__(self, root: Path) -> None:
        self.root, self.window, self.app = root, None, None

    def __enter__(self) -> WindowCheck:
        return self

    def open(self) -> str:
        from PySide6.QtWidgets import QApplication

        from app.application import start_window

        self.app = QApplication.instance() or QApplication(["spyglass"])
        env = {"XDG_CONFIG_HOME": str(self.root / "config"), "SPYGLASS_DATA_DIR": str(self.root / "window")}
        self.window = start_window({}, env=env)
        deadline = time.monotonic() + 20
        while not (self.window.windowHandle() and self.window.windowHandle().isExposed()):
            if time.monotonic() > deadline:
                raise TimeoutError("the window was not shown within 20 s")
            self.app.processEvents()
            time.sleep(0.01)
        for _ in range(20):
            self.app.processEvents()
            time.sleep(0.01)
        size = self.window.size()
        return f"shown and exposed, {size.width()}x{size.height()}, platform {self.app.platformName()}"

    def screenshot(self) -> str:
        from core.desktop import capture_screen

        shot = capture_screen()
        pixels = shot.pixels
        height, width = pixels.shape[:2]
        if self.window is None:
            raise RuntimeError("the window is not open, so the screenshot cannot be checked against it")
        top_left = self.window.geometry().topLeft()
        x, y = max(0, top_left.x()), max(0, top_left.y())
        region = pixels[y : y + self.window.height(), x : x + self.window.width()]
        colours = len(np.unique(region.reshape(-1, region.shape[-1]), axis=0))
        if colours < 3:
            raise AssertionError(f"the window's part of the {width}x{height} screenshot is blank ({colours} colours)")
        return f"{width}x{height}, the window's area shows {colours} colours"

    def __exit__(self, *exc) -> None:
        if self.window is not None:
            self.window.close()
            self.window.store.close()
            self.app.processEvents()


def ingest(root: Path, kind: str) -> str:
    from core.ingest import ingest_path
    from core.messages import ImagePart, TextPart, VideoPart

    folder = root / "files"
    folder.mkdir(exist_ok=True)
    write = {"pdf": media.write_pdf, "image": media.write_image, "video": media.write_video}[kind]
    path = write(folder / {"pdf": "page.pdf", "image": "picture.png", "video": "clip.mp4"}[kind])
    read = ingest_path(path)
    if read.kind != kind:
        raise AssertionError(f"{path.name} was read as {read.kind}, not {kind}")
    texts = "".join(p.text for p in read.parts if isinstance(p, TextPart))
    if kind == "pdf" and media.PDF_TEXT not in texts:
        raise AssertionError(f"the PDF's text layer was not read: {texts[:80]!r}")
    if kind == "image" and not any(isinstance(p, ImagePart) for p in read.parts):
        raise AssertionError("the image came back without pixels")
    if kind == "video" and not any(isinstance(p, VideoPart) and len(p.frames) >= 3 for p in read.parts):
        raise AssertionError("the video came back with fewer than 3 frames")
    return f"{path.name}: {read.summary}"


def gguf_reply(model: Path | None) -> str:
    from core.settings import Settings

    if model is None or not model.is_file():
        raise FileNotFoundError(f"no self-test GGUF at {model}: a frozen build carries one, else pass --self-test-gguf")
    deltas, reason, _ = stream_reply(Settings(model_dir=str(model), engine="gguf", context_tokens=512))
    return f"{deltas} deltas streamed from {model.name}, finished: {reason}"


def stream_reply(settings, describe=None) -> tuple[int, str, str]:
    """Open the engine `settings` name, stream 8 greedy tokens answering "hello", close it.

    Returns (text deltas, finish reason, `describe(engine)` once loaded); AssertionError when the
    reply streams nothing or does not finish."""
    from core.engine import GREEDY, GenerateOptions, open_engine
    from core.events import Finished, ReasoningDelta, TextDelta
    from core.messages import Message

    engine = open_engine(settings)
    try:
        engine.load()
        where = describe(engine) if describe else ""
        deltas, finished = 0, None
        for event in engine.generate([Message.text("user", "hello")], GenerateOptions(sampling=GREEDY, max_tokens=8)):
            deltas += isinstance(event, (TextDelta, ReasoningDelta))
            finished = event if isinstance(event, Finished) else finished
    finally:
        engine.close()
    if finished is None or finished.reason not in ("length", "stop"):
        raise AssertionError(f"the reply did not finish: {finished}")
    if deltas == 0:
        raise AssertionError("no text streamed")
    return deltas, finished.reason, where


def agent_step() -> str:
    from app.selftest.agent_step import dry_run_step

    return dry_run_step()


def history(root: Path) -> str:
    from core.history import HistoryStore

    path = root / "history" / "history.sqlite3"
    with HistoryStore(path) as store:
        conversation, _ = store.start_conversation("self-test", "user", "hello")
        reply = store.start_reply(conversation, model="self-test")
        store.finish_reply(reply, "hello back")
    with HistoryStore(path) as store:
        texts = [m.text for m in store.messages(conversation)]
    if texts != ["hello", "hello back"]:
        raise AssertionError(f"history read back {texts}")
    return f"2 messages written and read back from {path.name}"
