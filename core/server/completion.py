"""The response to one chat completion: it waits for the engine, streams or collects, and cancels.

It is an ASGI response of its own rather than a StreamingResponse because it must watch the
client from the moment the request is queued: a task reads `receive` until the client hangs
up, then cancels the job (queued: it never runs; running: the engine stops at the next token)
and ends the response at once. Errors get a real HTTP status whenever they come before the
first token (a prompt too long for the context is a 400, a failed engine a 500); once a stream
has begun they come as an OpenAI error event (`data: {"error": ...}`, which the official
client raises as `APIError`) and the stream ends without `[DONE]`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.responses import Response

from core.engine.protocol import ContextTooLongError, EngineError
from core.events import Finished

from .errors import ApiError, send_json
from .replies import ReplyBuilder
from .worker import END, EngineWorker, Job

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class Gone(Exception):
    """The client hung up; nothing more is sent."""


def as_api_error(error: BaseException) -> ApiError:
    """An exception the engine raised for a request, as the status a client should see."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, ContextTooLongError):
        return ApiError(400, str(error), "context_length_exceeded", "messages")
    if isinstance(error, EngineError):
        return ApiError(503, str(error), "engine_unavailable")
    if isinstance(error, ValueError):  # the engine's word for a prompt it cannot take
        return ApiError(400, str(error), "invalid_request", "messages")
    return ApiError(500, f"the engine failed: {type(error).__name__}: {error}", "engine_error")


def sse(data: dict) -> bytes:
    return b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"


class CompletionResponse(Response):
    """Answers a request whose `job` is queued on `worker` (module docstring)."""

    def __init__(self, job: Job, worker: EngineWorker, reply: ReplyBuilder, *, stream: bool, usage: bool) -> None:
        super().__init__()
        self.job, self.worker, self.reply = job, worker, reply
        self.stream, self.include_usage = stream, usage
        self.gone = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        watcher = asyncio.ensure_future(self._watch(receive))
        try:
            await (self._stream(send) if self.stream else self._complete(send))
        except Gone:
            pass
        finally:
            watcher.cancel()
            self.worker.cancel(self.job)  # nothing to do when the job has finished

    async def _watch(self, receive: Any) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        self.worker.cancel(self.job)
        self.job.events.put_nowait(END)  # wake the response now, even if the job is still queued

    async def _next(self) -> Any:
        """The next engine event; an engine exception or an early end raises ApiError."""
        item = await self.job.events.get()
        if self.gone:
            raise Gone
        if isinstance(item, BaseException):
            raise as_api_error(item)
        if item is END:
            raise ApiError(500, "the server stopped before the reply finished", "server_stopping")
        return item

    async def _complete(self, send: Any) -> None:
        try:
            while not isinstance(event := await self._next(), Finished):
                self.reply.add(event)
            self.reply.add(event)
            await self._send_json(send, 200, self.reply.completion())
        except ApiError as error:
            await self._send_json(send, error.status, error.body(), error.headers())

    async def _stream(self, send: Any) -> None:
        head: list[dict] = []
        try:  # hold the headers until the first delta, so early errors keep their status
            while not head and self.reply.finished is None:
                delta = self.reply.add(await self._next())
                head += [delta] if delta else []
            if self.reply.finished is not None:
                self.reply.final_chunk()  # raises for a reply that failed before its first token
        except ApiError as error:
            await self._send_json(send, error.status, error.body(), error.headers())
            return
        await self._send(send, {"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        await self._send_chunks(send, [self.reply.first_chunk(), *(self.reply.chunk(d) for d in head)])
        try:
            while self.reply.finished is None:
                delta = self.reply.add(await self._next())
                if delta:
                    await self._send_chunks(send, [self.reply.chunk(delta)])
            tail = [self.reply.final_chunk()] + ([self.reply.usage_chunk()] if self.include_usage else [])
            await self._send_body(send, b"".join(map(sse, tail)) + b"data: [DONE]\n\n", more=False)
        except ApiError as error:
            await self._send_body(send, sse(error.body()), more=False)

    async def _send_chunks(self, send: Any, chunks: list[dict]) -> None:
        await self._send_body(send, b"".join(map(sse, chunks)), more=True)

    async def _send_body(self, send: Any, body: bytes, *, more: bool) -> None:
        await self._send(send, {"type": "http.response.body", "body": body, "more_body": more})

    async def _send_json(self, send: Any, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        await send_json(self._send_to(send), status, body, headers)

    def _send_to(self, send: Any) -> Any:
        async def guarded(message: dict) -> None:
            await self._send(send, message)

        return guarded

    async def _send(self, send: Any, message: dict) -> None:
        if self.gone:
            raise Gone
        try:
            await send(message)
        except OSError:  # the client went away between two tokens (uvicorn's ClientDisconnected)
            self.gone = True
            raise Gone from None
