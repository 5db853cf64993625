"""`spyglass serve`: an OpenAI-compatible HTTP server over one local engine (SPEC, SAFETY.md).

`create_app` builds the ASGI application (app.py), `bind` and `make_server` listen (run.py),
`load_or_create_token` keeps the bearer token (guard.py). The command itself is in core/cli.py.
"""

from .app import create_app
from .guard import load_or_create_token
from .run import bind, make_server, url_of

__all__ = ["bind", "create_app", "load_or_create_token", "make_server", "url_of"]
