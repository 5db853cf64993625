"""PDF ingestion through real pypdfium2 on PDFs written by the test: text and page images per
page with 1-based page sources, scans as images only, page ranges, progress, cancel, errors."""

import threading

import numpy as np
import pypdfium2 as pdfium
import pytest

from core.ingest import BadPageRange, Cancelled, EncryptedFile, Limits, TooLarge, ingest_path
from core.ingest.pdf import render_scale
from core.messages import ImagePart, TextPart
from tests.ingest.fixtures import make_image_pdf, make_pdf


def test_text_pages_give_text_then_image_and_scans_give_image_only(tmp_path):
    path = make_pdf(tmp_path / "doc.pdf", ["First page\nsecond line", None, "Third (page)"])
    result = ingest_path(path)
    assert result.kind == "pdf" and result.path == str(path)
    assert result.summary == "3 pages (1 without a text layer)"
    kinds = [(type(p).__name__, p.source.kind, p.source.page) for p in result.parts]
    assert kinds == [("TextPart", "pdf_page", 1), ("ImagePart", "pdf_page", 1), ("ImagePart", "pdf_page", 2),
                     ("TextPart", "pdf_page", 3), ("ImagePart", "pdf_page", 3)]
    assert result.parts[0].text.split() == ["First", "page", "second", "line"]
    assert result.parts[3].text.strip() == "Third (page)"
    assert all(p.source.path == str(path) for p in result.parts)


def test_page_images_are_rendered_within_the_budget_and_show_the_page(tmp_path):
    path = make_pdf(tmp_path / "doc.pdf", ["Text", None])
    budget = 200_000
    images = [p for p in ingest_path(path, limits=Limits(page_pixels=budget)).parts if isinstance(p, ImagePart)]
    for image in images:
        h, w, c = image.pixels.shape
        assert c == 3 and image.pixels.dtype == np.uint8
        assert 0.9 * budget < h * w <= budget * 1.01
        assert abs(w / h - 612 / 792) < 0.01  # letter paper keeps its aspect
    scan = images[1].pixels  # the image page: blue square in the middle on a coloured ground
    h, w = scan.shape[:2]
    assert tuple(scan[int(h * 0.5), int(w * 0.5)]) == (0, 0, 255)
    assert tuple(images[0].pixels[5, 5]) == (255, 255, 255)  # white paper around the text


def test_render_scale_is_capped_at_300_dpi_for_tiny_pages():
    assert render_scale(612, 792, 451_584) == pytest.approx((451_584 / (612 * 792)) ** 0.5)
    assert render_scale(10, 10, 451_584) == pytest.approx(300 / 72)


def test_page_range_picks_pages_by_their_1_based_numbers(tmp_path):
    path = make_pdf(tmp_path / "doc.pdf", [f"page {i}" for i in range(1, 7)])
    result = ingest_path(path, pages=range(3, 5))
    texts = [p for p in result.parts if isinstance(p, TextPart)]
    assert [(t.text.strip(), t.source.page) for t in texts] == [("page 3", 3), ("page 4", 4)]
    assert result.summary == "2 pages"


@pytest.mark.parametrize("pages", [range(0, 2), range(5, 9), range(3, 3)])
def test_a_page_range_outside_the_document_is_a_typed_error(tmp_path, pages):
    path = make_pdf(tmp_path / "doc.pdf", ["a", "b", "c", "d"])
    with pytest.raises(BadPageRange, match="doc.pdf"):
        ingest_path(path, pages=pages)


def test_more_pages_than_the_limit_asks_for_a_range(tmp_path):
    path = make_pdf(tmp_path / "long.pdf", ["x"] * 5)
    with pytest.raises(TooLarge, match=r"long\.pdf: 5 pages asked for, more than the limit of 3.*page range"):
        ingest_path(path, limits=Limits(pdf_pages=3))
    assert len(ingest_path(path, limits=Limits(pdf_pages=3), pages=range(3, 6)).parts) == 6


def test_progress_reports_each_page_in_the_calling_thread(tmp_path):
    path = make_pdf(tmp_path / "doc.pdf", ["a", None, "c", "d"])
    seen = []
    ingest_path(path, on_progress=lambda p: seen.append((p.done, p.total, p.what, threading.get_ident())))
    assert [s[:3] for s in seen] == [(i, 4, f"page {i} of 4") for i in range(1, 5)]
    assert {s[3] for s in seen} == {threading.get_ident()}


def test_cancel_stops_between_pages(tmp_path):
    path = make_pdf(tmp_path / "doc.pdf", [f"page {i}" for i in range(60)])
    cancel, seen = threading.Event(), []

    def on_progress(progress):
        seen.append(progress.done)
        if progress.done == 2:
            cancel.set()

    with pytest.raises(Cancelled, match="doc.pdf: reading was cancelled"):
        ingest_path(path, on_progress=on_progress, cancel=cancel)
    assert 2 in seen and max(seen) < 60


def test_a_cancel_set_before_the_start_reads_nothing(tmp_path):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        ingest_path(make_pdf(tmp_path / "doc.pdf", ["a"]), cancel=cancel)


def test_an_encrypted_pdf_is_refused_by_name(tmp_path):
    path = make_pdf(tmp_path / "secret.pdf", ["Hidden words"], user_password="hunter2")
    with pytest.raises(EncryptedFile, match=r"secret\.pdf: the PDF is encrypted with a password"):
        ingest_path(path)
    document = pdfium.PdfDocument(str(path), password="hunter2")  # the fixture is really encrypted
    assert document[0].get_textpage().get_text_bounded().strip() == "Hidden words"
    document.close()


def test_an_image_only_pdf_made_by_pillow_gives_page_images(tmp_path):
    path = make_image_pdf(tmp_path / "scans.pdf", 3)
    result = ingest_path(path)
    assert [type(p) for p in result.parts] == [ImagePart] * 3
    assert [p.source.page for p in result.parts] == [1, 2, 3]
    assert result.summary == "3 pages (3 without a text layer)"


def test_every_page_image_is_bounded_in_pixels_and_shape(tmp_path):
    """Issue 13.3: a 4e9 x 1 pt page rendered to 1 x 42,501,012 pixels. Pages within the shape
    bound render within the pixel budget whatever their size; longer ones are not rendered at all
    (their text is kept) and the summary names them."""
    sizes = [(612, 792), (4e9, 1), (612, 130_000), (14_400, 72), (3, 500), (1, 1)]
    texts = ["normal", None, "a very tall page", "a wide banner", None, None]
    path = make_pdf(tmp_path / "shapes.pdf", texts, sizes=sizes)
    budget = Limits().page_pixels
    result = ingest_path(path)
    pages = {(type(p).__name__, p.source.page) for p in result.parts}
    assert ("ImagePart", 2) not in pages and ("ImagePart", 3) not in pages
    assert ("TextPart", 3) in pages  # the tall page's text is still read
    for page in (1, 4, 5, 6):
        assert ("ImagePart", page) in pages
    for image in (p for p in result.parts if isinstance(p, ImagePart)):
        h, w = image.pixels.shape[:2]
        assert h * w <= budget * 1.01 and max(h, w) <= 200 * min(h, w) + 1, (image.source.page, h, w)
    assert "page 2 (4,000,000,000 x 1 pt)" in result.summary and "page 3 (612 x 130,000 pt)" in result.summary
    assert "more than 200 times longer than wide" in result.summary


def test_a_pdf_of_only_unshowable_pages_is_refused(tmp_path):
    path = make_pdf(tmp_path / "ribbons.pdf", [None] * 6, sizes=[(4e9, 1)] * 6)
    with pytest.raises(TooLarge, match="no page can be shown: the image of page 1 .* and 3 more left out"):
        ingest_path(path)


def test_the_planner_leaves_out_only_the_page_it_cannot_use(tmp_path):
    """Issue 13.3: a realistic file with one normal page and one 612 x 130,000 pt page was refused
    whole; now the tall page's image is not rendered and the normal page is planned as usual."""
    from core.ingest import plan_parts
    from core.vision.sizes import M3MediaPlan

    path = make_pdf(tmp_path / "report.pdf", ["Summary", "Appendix: one long table"],
                    sizes=[(612, 792), (612, 130_000)])
    result = ingest_path(path)
    plan = plan_parts(result.parts, context_tokens=32_768, media=M3MediaPlan())
    kept = [(type(p).__name__, p.source.page) for p in plan.parts]
    assert kept == [("TextPart", 1), ("ImagePart", 1), ("TextPart", 2)] and plan.omitted == ()
    assert "page 2 (612 x 130,000 pt)" in result.summary
