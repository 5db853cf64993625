"""Pixels between the spine (numpy uint8 RGB) and Qt (QImage), thumbnails, and Qt screen grabs.

QImage, unlike QPixmap, may be used off the UI thread, so thumbnails are made in ingestion jobs.
`grab_screen` is the Qt way to capture the desktop (UI thread only), used when `core.ingest`
has no capture of its own yet.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRect, Qt
from PySide6.QtGui import QGuiApplication, QImage

from core.messages import ImagePart, ScreenGeometry, Source

THUMB = 128


def to_qimage(pixels: np.ndarray) -> QImage:
    """A deep copy of an [H, W, 3] uint8 RGB array as a QImage."""
    pixels = np.ascontiguousarray(pixels)
    h, w = pixels.shape[:2]
    return QImage(pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def to_pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w, stride = image.height(), image.width(), image.bytesPerLine()
    raw = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * h).reshape(h, stride)
    return raw[:, :w * 3].reshape(h, w, 3).copy()


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


def thumbnail(pixels: np.ndarray, size: int = THUMB) -> bytes:
    image = to_qimage(pixels).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                     Qt.TransformationMode.SmoothTransformation)
    return png_bytes(image)


def from_png(data: bytes) -> QImage:
    return QImage.fromData(data, "PNG")


def grab_screen(*, monitor: int | None = None, region: tuple[int, int, int, int] | None = None) -> ImagePart:
    """The desktop (monitor None or 0), one monitor (1-based), or a region (left, top, width, height)."""
    screens = QGuiApplication.screens()
    if monitor and not 1 <= monitor <= len(screens):
        raise ValueError(f"monitor {monitor} does not exist; there are {len(screens)}")
    chosen = screens[monitor - 1] if monitor else QGuiApplication.primaryScreen()
    rect = chosen.geometry() if monitor else chosen.virtualGeometry()
    if region is not None:
        rect = QRect(*region)
    image = chosen.grabWindow(0, rect.x(), rect.y(), rect.width(), rect.height()).toImage()
    scale = image.width() / max(1, rect.width())
    geometry = ScreenGeometry(rect.x(), rect.y(), rect.width(), rect.height(), scale, monitor or 0)
    return ImagePart(to_pixels(image), Source("screenshot", geometry=geometry))
