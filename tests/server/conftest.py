"""The `serve` fixture: a real server over an engine, stopped when the test ends."""

from contextlib import ExitStack

import pytest

from core.server import create_app
from core.settings import Settings

from .harness import TOKEN, running


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
