"""The window with the real MSA engine on a tiny generated M3 folder, on the CPU.

Drop a generated PDF and an image, send, receive a streamed reply, close the window, open a new
one on the same history: the conversation is back. The first test sends the PDF (its pages as
text and images) and the image through the vision tower; the second sends the PDF's text only.
"""

import pytest
import torch

from core.engine.msa import MsaEngine
from core.settings import Settings

from app.attachments import text_only
from tests.app.files import make_image, make_pdf
from tests.app.test_window import drop, send, wait_reply
from tests.core.conftest import write_tiny_vl_folder


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory):
    return write_tiny_vl_folder(tmp_path_factory.mktemp("tiny_m3_app"))


def make_cpu_engine(settings: Settings):
    return MsaEngine(settings.model_dir, device="cpu", dtype=torch.float32, context_tokens=settings.context_tokens)


def converse(make_window, qtbot, tmp_path, tiny_folder, *, with_image: bool):
    from app.main_window import MainWindow

    settings = Settings(model_dir=str(tiny_folder), data_dir=str(tmp_path / "data"), max_tokens=12,
                        temperature=0.0, context_tokens=4096)
    window = make_window(make_cpu_engine(settings), settings=settings)
    assert window.status.label.text() == f"Model ready: {tiny_folder.name}"
    pdf = make_pdf(tmp_path / "report.pdf")
    drop(window, pdf, *([make_image(tmp_path / "chart.png")] if with_image else []))
    qtbot.waitUntil(lambda: len(window.pending) == (2 if with_image else 1) and all(window.pending.values()),
                    timeout=20000)
    if not with_image:  # the PDF's text only: what a text-only engine can read
        (key,) = window.pending
        att = window.pending[key]
        window.pending[key] = type(att)(**{**att.__dict__, "parts": text_only(att.parts)})
    batches = []
    window.engine.worker.sig_batch.connect(batches.append)
    send(qtbot, window, "what is the quick brown fox?")
    wait_reply(qtbot, window, timeout=120000)
    conv = window.store.conversations()[0]
    user, reply = window.store.messages(conv.id)
    assert reply.error is None, reply.error
    assert reply.status == "done" and reply.text and batches
    assert "".join(b.text for b in batches) == reply.text
    assert [a.kind for a in user.attachments][0] == "pdf"
    window.close()
    again = MainWindow(settings, window.store, make_engine=lambda s: make_cpu_engine(s))
    qtbot.addWidget(again)
    try:
        again.conversations.items.setCurrentRow(0)
        assert [m.text for m in again.chat.messages] == ["what is the quick brown fox?", reply.text]
        assert "report.pdf" in again.chat.toPlainText() and reply.text.strip()[:8] in again.chat.toPlainText()
    finally:
        again.close()


def test_pdf_and_image_conversation_survives_reopening(make_window, qtbot, tmp_path, tiny_folder):
    converse(make_window, qtbot, tmp_path, tiny_folder, with_image=True)


def test_pdf_text_conversation_survives_reopening(make_window, qtbot, tmp_path, tiny_folder):
    converse(make_window, qtbot, tmp_path, tiny_folder, with_image=False)
