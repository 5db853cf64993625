"""What stands between the network and the server (SAFETY.md, local server): Host, token, body size.

`Guard` is plain ASGI middleware, outermost, so nothing, not even a 404 or a CORS preflight,
reaches the application without passing it. In order: a Host header that is not a loopback name
(nor a name the user allowed with `--expose`) is refused, which stops DNS rebinding, where a web
page's own host name resolves to 127.0.0.1; a request without the bearer token is refused (the
token is compared in constant time); a body larger than the bound is refused with 413, from its
Content-Length or, for a chunked body, as soon as the bytes received pass it (the body is read
here, so the application never holds more than the bound). There is no CORS middleware at all:
a browser page on another origin gets no `Access-Control-Allow-Origin` and cannot read a reply.
The token lives in a file only its owner may read, made on first start (`load_or_create_token`).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import sys
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from .errors import ApiError, send_error

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]
TOKEN_BYTES = 32  # secrets.token_urlsafe(32): 43 characters, 256 bits


def load_or_create_token(path: Path) -> tuple[str, bool]:
    """The server's token and whether it was made just now (then the caller shows it, once).

    A new token is written to a file created readable by its owner alone (0600); an existing file
    that others may read is refused rather than trusted, since anyone who read it holds the key."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_token(path), False
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(token + "\n")
    return token, True


def _read_token(path: Path) -> str:
    if sys.platform != "win32" and path.stat().st_mode & 0o077:
        raise PermissionError(f"{path} may be read by other users; run `chmod 600 {path}` or delete it for a new token")
    token = path.read_text(encoding="ascii").strip()
    if len(token) < 16:
        raise ValueError(f"{path} holds no usable token (too short); delete it and a new one is made")
    return token


def is_loopback(name: str) -> bool:
    """Whether a host name (no port, no brackets) always means this machine."""
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name in a Host header: `[::1]:8000` -> `::1`, `localhost:80` -> `localhost`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard:
    """ASGI middleware refusing foreign hosts, missing tokens and oversized bodies (module docstring)."""

    def __init__(self, app: Any, *, token: str, max_body_bytes: int, extra_hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()
        self.max_body_bytes = max_body_bytes
        self.extra_hosts = frozenset(h.lower().strip("[]") for h in extra_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets here
            return
        try:
            self._check_headers(dict(scope["headers"]))
            body = await self._read_body(scope, receive)
        except ApiError as error:
            await send_error(send, error)
            return
        await self.app(scope, _replay(body, receive), send)

    def _check_headers(self, headers: dict[bytes, bytes]) -> None:
        name = host_name(headers.get(b"host", b"").decode("latin-1"))
        if not (is_loopback(name) or name in self.extra_hosts):
            raise ApiError(
                403,
                f"the Host header {name!r} is not a loopback name; this server answers only local clients",
                "bad_host",
            )
        given = headers.get(b"authorization", b"")
        if not hmac.compare_digest(given, self.expected):
            what = "a wrong bearer token" if given else "no bearer token"
            raise ApiError(401, f"the request has {what}; send `Authorization: Bearer <token>`", "invalid_api_key")

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            raise self._too_large(int(length))
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                raise self._too_large(size)
            more = message.get("more_body", False)
        return b"".join(chunks)

    def _too_large(self, size: int) -> ApiError:
        return ApiError(
            413,
            f"the request body has {size:,} bytes or more, above the limit of {self.max_body_bytes:,} "
            "(the serve.max_body_bytes setting)",
            "body_too_large",
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body read already, then waits on the client (for its disconnect)."""
    sent = False

    async def again() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again
