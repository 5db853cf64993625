"""Listening: a socket bound here (so the port is known before serving, even port 0), and uvicorn.

uvicorn is told to trust no proxy headers, to speak no websockets and to give running replies
a few seconds to finish when asked to stop; its access log stays off (a prompt is nobody's
business but the user's), its warnings go to standard error.
"""

from __future__ import annotations

import socket
from typing import Any

GRACE_SECONDS = 5


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host` (IPv4 or IPv6) and `port` (0: any free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=256)


def make_server(app: Any, *, log_level: str = "warning") -> Any:
    """A uvicorn server for `app`; `.run(sockets=[bind(...)])` serves until `.should_exit`."""
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        ws="none",
        lifespan="on",
        timeout_graceful_shutdown=GRACE_SECONDS,
    )
    return uvicorn.Server(config)


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"
