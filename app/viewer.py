"""A dialog that shows a cited PDF page or video frame, read again from the source file.

The page or frame is fetched by a background job (`ingest_path` with just that page, or the
video's sampled frames, the one nearest the timestamp), so a big file never blocks the window.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QDialog, QLabel, QScrollArea, QVBoxLayout, QWidget

from app.images import to_qimage
from app.tasks import TaskRunner
from core import ingest
from core.messages import ImagePart, VideoPart


def fetch_page(path: str, page: int):
    """The rendered image of 1-based `page` of the PDF at `path`."""
    got = ingest.ingest_path(path, pages=range(page, page + 1))
    return next(p.pixels for p in got.parts if isinstance(p, ImagePart))


def fetch_frame(path: str, seconds: float):
    got = ingest.ingest_path(path)
    if got.kind == "image":
        return next(p.pixels for p in got.parts if isinstance(p, ImagePart))
    for p in got.parts:
        if isinstance(p, VideoPart):
            nearest = min(range(len(p.timestamps)), key=lambda i: abs(p.timestamps[i] - seconds))
            return p.frames[nearest]
    raise ValueError(f"{path}: no frames near {seconds:.0f} s")


class Viewer(QDialog):
    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(760, 820)
        self.image = QLabel("Loading…", alignment=Qt.AlignmentFlag.AlignCenter)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(self.image)
        QVBoxLayout(self).addWidget(scroll)

    def show_pixels(self, pixels) -> None:
        self.image.setPixmap(QPixmap.fromImage(to_qimage(pixels)))

    def show_error(self, message: str) -> None:
        self.image.setText(f"Cannot show this: {message}")


def open_viewer(parent: QWidget, tasks: TaskRunner, *, path: str, kind: str, value: float) -> Viewer:
    """A viewer for page `value` of a PDF, or the frame at `value` seconds of a video (or the image)."""
    title = f"{path} — page {int(value)}" if kind == "pdf" else f"{path} — {int(value) // 60}:{int(value) % 60:02d}"
    viewer = Viewer(title, parent)
    job = (lambda: fetch_page(path, int(value))) if kind == "pdf" else (lambda: fetch_frame(path, value))
    tasks.run_task(job, viewer.show_pixels, viewer.show_error)
    viewer.show()
    return viewer
