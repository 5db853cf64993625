"""The main window with a fake engine: model status, sending, streaming, stopping, attachments."""

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QImage

from core.history import HistoryStore
from core.settings import Settings

from tests.app.fake_engine import FakeEngine
from tests.app.files import make_image, make_pdf


def send(qtbot, window, text):
    window.composer.edit.setPlainText(text)
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)


def wait_reply(qtbot, window, timeout=5000):
    qtbot.waitUntil(lambda: not window.session.generating, timeout=timeout)


def drop(window, *paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(300, 300), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def test_first_launch_without_a_model_explains_and_refuses_to_send(make_window, tmp_path):
    window = make_window(settings=Settings(data_dir=str(tmp_path / "d")))
    assert window.status.state == "none" and "choose a model folder" in window.status.label.text()
    assert "To get one" in window.chat.toPlainText()
    window.composer.edit.setPlainText("hi")
    window.composer.submit()
    assert window.store.conversations() == [] and "No model is ready" in window.statusBar().currentMessage()


def test_load_progress_then_ready(make_window, qtbot):
    window = make_window(FakeEngine(steps=5, load_delay=0.02), wait_ready=False)
    qtbot.waitUntil(lambda: window.status.state == "ready", timeout=5000)
    assert window.status.bar.maximum() == 5 and window.status.bar.value() == 5
    assert window.status.label.text().startswith("Model ready")


def test_load_failure_shows_the_reason(make_window, qtbot):
    window = make_window(FakeEngine(fail_load="config.json: hidden_size is missing"), wait_ready=False)
    qtbot.waitUntil(lambda: window.status.state == "failed", timeout=5000)
    assert "hidden_size is missing" in window.status.label.text()
    assert "To get one" in window.chat.toPlainText()  # the welcome explains how to get a model


def test_message_is_committed_before_generation_and_reply_streams_to_history(make_window, qtbot):
    engine = FakeEngine(reply="It is **bold** and `code`.", reasoning="let me think about it")
    window = make_window(engine)
    seen, real = [], engine.generate

    def generate(messages, options):  # on the worker thread: read the file through another connection
        with HistoryStore(window.store.path) as other:
            seen.append([m.text for c in other.conversations() for m in other.messages(c.id)])
        return real(messages, options)

    engine.generate = generate
    send(qtbot, window, "what is this?")
    wait_reply(qtbot, window)
    assert seen == [["what is this?", ""]]  # user row and the empty reply row were on disk first
    (conv,) = window.store.conversations()
    user, reply = window.store.messages(conv.id)
    assert (reply.text.strip(), reply.reasoning.strip(), reply.status) == \
        ("It is **bold** and `code`.", "let me think about it", "done")
    assert conv.title == "what is this?" and window.conversations.items.count() == 1
    html = window.chat.toHtml()
    assert "font-weight:700" in html or "font-weight:600" in html  # Markdown rendered, not shown raw
    assert "let me think" not in window.chat.toPlainText() and "Reasoning (5 words)" in window.chat.toPlainText()
    window.chat._clicked(QUrl("fold:1"))
    assert "let me think about it" in window.chat.toPlainText()
    assert window.composer.edit.toPlainText() == "" and window.composer.send_button.isVisible()


def test_shift_enter_breaks_the_line_without_sending(make_window, qtbot):
    window = make_window()
    window.composer.edit.setPlainText("line one")
    window.composer.edit.moveCursor(window.composer.edit.textCursor().MoveOperation.End)
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert window.composer.edit.toPlainText() == "line one\n" and window.store.conversations() == []


def test_stop_ends_the_reply_and_keeps_what_streamed(make_window, qtbot):
    window = make_window(FakeEngine(tokens=2000, token_delay=0.002))
    send(qtbot, window, "long answer please")
    qtbot.waitUntil(lambda: len(window.session.chat.text) > 20, timeout=5000)
    assert window.composer.stop_button.isVisible()
    qtbot.mouseClick(window.composer.stop_button, Qt.MouseButton.LeftButton)
    wait_reply(qtbot, window)
    (conv,) = window.store.conversations()
    reply = window.store.messages(conv.id)[-1]
    assert reply.status == "cancelled" and 20 < len(reply.text) < len("w1999 ") * 2000
    assert "stopped" in window.chat.toPlainText()


def test_dropped_pdf_and_image_become_chips_and_reach_the_engine(make_window, qtbot, tmp_path):
    engine = FakeEngine()
    window = make_window(engine)
    drop(window, make_pdf(tmp_path / "paper.pdf"), make_image(tmp_path / "photo.png"))
    qtbot.waitUntil(lambda: len(window.pending) == 2 and all(window.pending.values()), timeout=10000)
    labels = [c.text.text() for c in window.composer.chips.values()]
    assert labels[0].startswith("paper.pdf · 2 pages · ~") and "tokens" in labels[0]
    assert labels[1].startswith("photo.png · ~") and window.composer.chips[2].thumb.pixmap() is not None
    send(qtbot, window, "summarise page 2")
    wait_reply(qtbot, window)
    (messages,) = engine.received
    kinds = [type(p).__name__ for p in messages[-1].parts]
    assert kinds.count("ImagePart") == 3 and kinds[-1] == "TextPart" and window.composer.chips == {}
    user = window.store.messages(window.store.conversations()[0].id)[0]
    assert [(a.kind, a.count) for a in user.attachments] == [("pdf", 2), ("image", 1)]
    assert all(a.thumbnail.startswith(b"\x89PNG") for a in user.attachments)


def test_a_bad_file_is_refused_with_its_name(make_window, qtbot, tmp_path):
    window = make_window()
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 this is not really a pdf")
    drop(window, bad)
    qtbot.waitUntil(lambda: window.pending == {}, timeout=5000)
    assert "broken.pdf" in window.statusBar().currentMessage() and window.composer.chips == {}


def test_pasted_image_becomes_an_attachment_saved_to_disk(make_window, qtbot):
    window = make_window()
    image = QImage(64, 48, QImage.Format.Format_RGB888)
    image.fill(Qt.GlobalColor.blue)
    mime = QMimeData()
    mime.setImageData(image)
    window.composer.edit.insertFromMimeData(mime)
    (att,) = window.pending.values()
    from PIL import Image

    assert att.kind == "clipboard" and att.parts[0].pixels.ndim == 3
    assert Image.open(att.path).size == (64, 48) and window.composer.edit.toPlainText() == ""


def test_an_engine_that_cannot_read_images_shows_the_error(make_window, qtbot, tmp_path):
    window = make_window(FakeEngine(refuse_images=True))
    drop(window, make_image(tmp_path / "photo.png"))
    qtbot.waitUntil(lambda: bool(window.pending) and all(window.pending.values()), timeout=5000)
    send(qtbot, window, "what is this?")
    wait_reply(qtbot, window)
    reply = window.store.messages(window.store.conversations()[0].id)[-1]
    assert reply.status == "error" and "cannot read" in reply.error
    assert "cannot read" in window.chat.toPlainText() and "cannot read" in window.statusBar().currentMessage()
    send(qtbot, window, "and without the picture?")  # the app keeps working: the failed turn is not resent
    wait_reply(qtbot, window)
    assert window.store.messages(window.store.conversations()[0].id)[-1].status == "done"
    assert [[p.text for p in m.parts] for m in window.session.engine.worker.engine.received[-1]] == \
        [["and without the picture?"]]


def test_a_model_that_reads_no_images_gets_the_text_and_the_person_is_told(make_window, qtbot, tmp_path):
    engine = FakeEngine(reads_media=False)
    window = make_window(engine)
    drop(window, make_image(tmp_path / "photo.png"))
    qtbot.waitUntil(lambda: bool(window.pending) and all(window.pending.values()), timeout=5000)
    (chip,) = window.composer.chips.values()
    assert chip.text.text() == "photo.png · ~0 tokens" and "the model reads no images" in chip.toolTip()
    send(qtbot, window, "what is this?")
    wait_reply(qtbot, window)
    reply = window.store.messages(window.store.conversations()[0].id)[-1]
    assert reply.status == "done"
    assert [type(p).__name__ for p in engine.received[-1][-1].parts] == ["TextPart"]
    assert "photo.png: image left out (the model reads no images or videos)" in window.statusBar().currentMessage()


def test_citations_open_the_cited_pdf_page(make_window, qtbot, tmp_path):
    window = make_window(FakeEngine(reply="The cat is on page 2."))
    pdf = make_pdf(tmp_path / "paper.pdf")
    drop(window, pdf)
    qtbot.waitUntil(lambda: bool(window.pending) and all(window.pending.values()), timeout=10000)
    send(qtbot, window, "where is the cat?")
    wait_reply(qtbot, window)
    assert "cite:page/2" in window.chat.toHtml()
    window.chat._clicked(QUrl("cite:page/2"))
    (viewer,) = window.viewers
    qtbot.waitUntil(lambda: viewer.image.pixmap() is not None and not viewer.image.pixmap().isNull(), timeout=5000)
    from app.viewer import fetch_page

    page2 = fetch_page(str(pdf), 2)
    shown = viewer.image.pixmap()
    assert "page 2" in viewer.windowTitle() and (shown.height(), shown.width()) == page2.shape[:2]
    assert not (page2.shape == fetch_page(str(pdf), 1).shape and (page2 == fetch_page(str(pdf), 1)).all())


@pytest.mark.parametrize("answer, kept", [("yes", False), ("no", True)])
def test_conversations_new_rename_search_delete(make_window, qtbot, monkeypatch, answer, kept):
    from PySide6.QtWidgets import QMessageBox

    window = make_window()
    send(qtbot, window, "about cats")
    wait_reply(qtbot, window)
    window.conversations.new_conversation()
    assert window.chat.messages == []
    send(qtbot, window, "about dogs")
    wait_reply(qtbot, window)
    lst = window.conversations
    assert [lst.items.item(i).text() for i in range(lst.items.count())] == ["about dogs", "about cats"]
    lst.items.item(1).setText("Feline facts")  # what an in-place edit does
    assert {c.title for c in window.store.conversations()} == {"about dogs", "Feline facts"}
    lst.search.setText("feline")
    assert lst.items.count() == 1
    lst.items.setCurrentRow(0)
    assert window.chat.messages[0].text == "about cats"
    button = QMessageBox.StandardButton.Yes if answer == "yes" else QMessageBox.StandardButton.No
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: button)
    lst.delete_current()
    lst.search.setText("")
    assert ("Feline facts" in {c.title for c in window.store.conversations()}) == kept
