"""Errors the server answers with, in the OpenAI shape: `{"error": {message, type, param, code}}`.

Every refusal, whatever layer finds it (the guard, request validation, the engine's queue, the
engine itself), becomes an `ApiError` carrying its HTTP status, so clients written for OpenAI
(which read `error.message` and the status) show our message as it is. The `type` follows
OpenAI's words (`invalid_request_error`, `authentication_error`, ...), `code` is ours and stable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error",
}
RETRY_AFTER_SECONDS = 1  # what a 429 asks a client to wait before it tries again


@dataclass
class ApiError(Exception):
    """A refusal with its HTTP status; `param` names the request field at fault, if one is."""

    status: int
    message: str
    code: str
    param: str | None = None

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict:
        kind = TYPES.get(self.status, "server_error" if self.status >= 500 else "invalid_request_error")
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}

    def headers(self) -> dict[str, str]:
        if self.status == 429:
            return {"Retry-After": str(RETRY_AFTER_SECONDS)}
        if self.status == 401:
            return {"WWW-Authenticate": "Bearer"}
        return {}


def bad_request(message: str, *, param: str | None = None, code: str = "invalid_request") -> ApiError:
    return ApiError(400, message, code, param)


async def send_json(send, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
    """Answer a raw ASGI request with a JSON body (the guard and the completion response use it)."""
    payload = json.dumps(body, ensure_ascii=False).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


async def send_error(send, error: ApiError) -> None:
    await send_json(send, error.status, error.body(), error.headers())
