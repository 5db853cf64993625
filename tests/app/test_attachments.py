"""Attachments being read: live progress on the chip, cancel by removing it, and videos.

A generated 60-page PDF whose pages each take pdfium ~75 ms shows "page N of 60" on its chip
while a background job reads it; removing the chip cancels the reading (core.ingest raises
`Cancelled`, which the window takes silently), with no error. Progress reported just before the
removal may still be delivered after it; the window ignores it. The tests wait on events (the
job's end), never on the clock, so a loaded machine makes them slower, not red. A generated MJPG
video becomes a chip with a thumbnail, its frame count and a token estimate, and a cited
timestamp opens its nearest frame.
"""

import cv2
import numpy as np
from PySide6.QtCore import QThread, QUrl, Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from core import ingest
from core.messages import VideoPart

from app.images import to_pixels
from tests.app.fake_engine import FakeEngine
from tests.app.files import make_heavy_pdf
from tests.app.test_window import drop, send, wait_reply


def test_a_long_pdf_shows_progress_and_removing_its_chip_cancels_the_reading(make_window, qtbot, tmp_path):
    window = make_window()
    pdf = make_heavy_pdf(tmp_path / "long.pdf", pages=60)
    shown, late, threads, ended = [], [], [], []
    real_progress, real_attached, real_failed = window._reading_progress, window._attached, window._attach_failed

    def spy(key, progress):  # runs where the relay delivers it: must be the UI thread
        threads.append(QThread.currentThread() is QApplication.instance().thread())
        real_progress(key, progress)
        chip = window.composer.chips.get(key)
        if chip is None:  # reported before the chip was removed, delivered after: nothing to show it on
            late.append(progress.done)
            return
        shown.append((chip.text.text(), chip.bar.value(), chip.bar.maximum(), chip.bar.isVisible()))

    window._reading_progress = spy
    window._attached = lambda key, att: (real_attached(key, att), ended.append(("attached", att)))
    window._attach_failed = lambda key, message: (real_failed(key, message), ended.append(("failed", message)))
    drop(window, pdf)
    (key,) = window.pending
    qtbot.waitUntil(lambda: len(shown) >= 3, timeout=30000)
    assert all(threads) and window.pending == {key: None} and key in window.reading
    text, value, maximum, visible = shown[-1]
    assert text == f"long.pdf · page {value} of 60" and maximum == 60 and visible and 3 <= value < 60
    assert [s[1] for s in shown] == list(range(1, len(shown) + 1))  # every page, in order
    chip = window.composer.chips[key]
    qtbot.mouseClick(chip.close_button, Qt.MouseButton.LeftButton)
    assert window.pending == {} and window.composer.chips == {}
    qtbot.waitUntil(lambda: bool(ended), timeout=30000)  # the job itself has ended, and said how
    assert ended == [("failed", f"{pdf}: reading was cancelled")] and window.reading == {}
    assert all(threads) and late == list(range(len(shown) + 1, len(shown) + len(late) + 1))
    assert max(s[1] for s in shown) + len(late) < 60  # it stopped before the end
    assert not [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert "Cannot attach" not in window.statusBar().currentMessage()


def test_a_pdf_read_to_the_end_replaces_its_progress_with_the_attachment(make_window, qtbot, tmp_path):
    window = make_window()
    drop(window, make_heavy_pdf(tmp_path / "short.pdf", pages=4))
    qtbot.waitUntil(lambda: all(window.pending.values()) and window.reading == {}, timeout=10000)
    (chip,) = window.composer.chips.values()
    assert chip.text.text().startswith("short.pdf · 4 pages · ~") and not chip.bar.isVisible()


def write_video(path, *, seconds=4, fps=10, size=(96, 64)):
    """An MJPG video whose second s is filled with colour COLOURS[s] and carries s white bars."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(seconds * fps):
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        frame[:] = COLOURS[i // fps][::-1]
        for bar in range(i // fps):
            frame[8:56, 8 + bar * 12: 14 + bar * 12] = 255
        writer.write(frame)
    writer.release()
    return path


COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]


def test_a_video_becomes_a_chip_and_a_cited_timestamp_opens_its_frame(make_window, qtbot, tmp_path):
    engine = FakeEngine(reply="it moves at 0:02")
    window = make_window(engine)
    video = write_video(tmp_path / "clip.avi")
    drop(window, video)
    qtbot.waitUntil(lambda: bool(window.pending) and all(window.pending.values()), timeout=10000)
    (att,) = window.pending.values()
    (chip,) = window.composer.chips.values()
    assert att.kind == "video" and att.count == 4 and att.tokens > 0
    assert chip.text.text() == f"clip.avi · 4 frames · ~{att.tokens} tokens"
    assert chip.thumb.pixmap() is not None and not chip.thumb.pixmap().isNull()
    send(qtbot, window, "what happens?")
    wait_reply(qtbot, window)
    (messages,) = engine.received
    assert [type(p).__name__ for p in messages[-1].parts] == ["VideoPart", "TextPart"]
    assert "cite:time/2" in window.chat.toHtml()
    window.chat._clicked(QUrl("cite:time/2"))
    (viewer,) = window.viewers
    qtbot.waitUntil(lambda: viewer.image.pixmap() is not None and not viewer.image.pixmap().isNull(), timeout=10000)
    (part,) = [p for p in ingest.ingest_path(str(video)).parts if isinstance(p, VideoPart)]
    assert part.timestamps == (0.0, 1.0, 2.0, 3.0)
    shown = to_pixels(viewer.image.pixmap().toImage())
    assert "0:02" in viewer.windowTitle() and np.array_equal(shown, part.frames[2])
    assert not np.array_equal(shown, part.frames[1]) and not np.array_equal(shown, part.frames[3])
    assert abs(int(shown[32, 48, 2]) - COLOURS[2][2]) < 24 and (shown[30, 10:12] > 230).all()
