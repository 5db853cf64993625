"""A real server (uvicorn on a free loopback port, in a thread) and the official `openai` client
pointed at it; the GGUF tests use it too."""

import threading
from contextlib import contextmanager

import openai

from core.server import bind, make_server, url_of

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
