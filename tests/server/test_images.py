"""Images in requests: a data: URI reaches the engine as an ImagePart with exactly its pixels; a
remote URL is refused with 400 unless serve.allow_remote_images is on (then it is fetched);
what is not a readable image is a 400 that says so, and the engine never sees the request."""

import base64
import http.server
import io
import threading

import numpy as np
import pytest
from PIL import Image

from core.messages import ImagePart, TextPart

from .fake_engine import FakeEngine
from .harness import client
from .test_openai_client import error_of


def png(pixels):
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def data_uri(data, media="image/png"):
    return f"data:{media};base64,{base64.b64encode(data).decode()}"


def asking(url, text="what is this?"):
    return [
        {"role": "user", "content": [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url}}]}
    ]


@pytest.fixture
def pixels():
    return np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)


def test_a_data_uri_reaches_the_engine_with_its_pixels(serve, pixels):
    engine = FakeEngine()
    other = np.zeros((4, 9, 3), np.uint8)
    other[:, :, 2] = 200
    messages = asking(data_uri(png(pixels)))
    messages[0]["content"].append({"type": "image_url", "image_url": {"url": data_uri(png(other)), "detail": "low"}})
    client(serve(engine)).chat.completions.create(model="fake-model", messages=messages)
    (message,), _ = engine.requests[-1]
    text, first, second = message.parts
    assert text == TextPart("what is this?") and isinstance(first, ImagePart) and isinstance(second, ImagePart)
    assert np.array_equal(first.pixels, pixels) and np.array_equal(second.pixels, other)


class _Files(http.server.BaseHTTPRequestHandler):
    files: dict = {}

    def do_GET(self):  # noqa: N802 (the standard library's name)
        data = self.files.get(self.path)
        self.send_response(200 if data else 404)
        self.send_header("Content-Length", str(len(data or b"")))
        self.end_headers()
        self.wfile.write(data or b"")

    def log_message(self, *args):
        pass


@pytest.fixture
def image_host(pixels):
    """A plain web server on loopback holding /cat.png."""
    _Files.files = {"/cat.png": png(pixels)}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_remote_url_is_refused_unless_enabled(serve, image_host):
    engine = FakeEngine()
    c = client(serve(engine, queue=0))
    status, err = error_of(
        lambda: c.chat.completions.create(model="fake-model", messages=asking(image_host + "/cat.png"))
    )
    assert (status, err["code"], err["param"]) == (400, "remote_image_refused", "image_url[0]")
    assert "serve.allow_remote_images" in err["message"] and engine.requests == []
    # the refused request gave its place back: with no queue, a next one would otherwise be a 429
    assert c.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "hi"}])


def test_a_remote_url_is_fetched_when_enabled(serve, image_host, pixels):
    engine = FakeEngine()
    c = client(serve(engine, allow_remote_images=True))
    c.chat.completions.create(model="fake-model", messages=asking(image_host + "/cat.png"))
    image = engine.requests[-1][0][0].parts[1]
    assert np.array_equal(image.pixels, pixels)
    status, err = error_of(
        lambda: c.chat.completions.create(model="fake-model", messages=asking(image_host + "/no.png"))
    )
    assert status == 400 and "cannot be fetched" in err["message"]


@pytest.mark.parametrize(
    "url, says",
    [
        (data_uri(b"hello", "text/plain"), "not an image"),
        (data_uri(b"\x89PNG\r\n\x1a\n" + b"\0" * 40), "cannot be read"),
        (data_uri(b"%PDF-1.4\n" + b"x" * 100), "cannot be read"),
        ("file:///etc/passwd", "data: URI or an http(s) address"),
        ("ftp://example.org/cat.png", "data: URI or an http(s) address"),
    ],
)
def test_what_is_not_a_readable_image_is_a_400(serve, url, says):
    engine = FakeEngine()
    status, err = error_of(
        lambda: client(serve(engine)).chat.completions.create(model="fake-model", messages=asking(url))
    )
    assert status == 400 and says in err["message"] and engine.requests == []
