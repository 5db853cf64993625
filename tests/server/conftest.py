"""A real server (uvicorn on a free loopback port, in a thread) over a fake engine, and the
official `openai` client pointed at it."""

import threading
from contextlib import ExitStack, contextmanager

import openai
import pytest

from core.server import bind, create_app, make_server, url_of
from core.settings import Settings

TOKEN = "test-token-0123456789abcdef"


@contextmanager
def running(app):
    """Serve `app` until the block ends; yields the base URL."""
    sock = bind("127.0.0.1", 0)
    server = make_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        thread.join(0.05)
    assert server.started, "the server did not start within 10 s"
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()
        assert not thread.is_alive(), "the server did not stop within 20 s"


def client(url, token=TOKEN, **kw):
    return openai.OpenAI(base_url=url + "/v1", api_key=token, max_retries=0, timeout=kw.pop("timeout", 30), **kw)


def health(url, token=TOKEN):
    """What /health says (it needs the token like every route)."""
    return client(url, token).get(url + "/health", cast_to=object)


@pytest.fixture
def serve():
    """`serve(engine, **serve_settings)` loads `engine`, starts a server over it, returns its URL."""
    with ExitStack() as stack:

        def start(engine, *, token=TOKEN, extra_hosts=(), **values):
            settings = Settings().with_values({f"serve.{k}": v for k, v in values.items()})
            engine.load()
            app = create_app(engine, settings=settings, token=token, extra_hosts=extra_hosts)
            return stack.enter_context(running(app))

        yield start
