"""The OpenAI-compatible application over one loaded engine: routes, error shapes, the guard.

`create_app` wires the pieces: FastAPI for routing and its error hooks (every error, a 404
from routing included, answers in the OpenAI shape), the `EngineWorker` that owns the engine,
and `Guard` around everything. A chat completion is checked in this order, cheapest first: the
body parses, the model is the one served (else 404), a place in the queue is free (else 429);
only then are its images decoded (off the event loop, in the ingest sandbox) and its job
queued. The engine is the caller's to load before and to close after; the worker stops with
the application (its lifespan).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from core.engine.options import options_from_settings
from core.engine.protocol import Engine
from core.settings import Settings

from .completion import CompletionResponse
from .errors import ApiError
from .guard import Guard
from .images import read_images
from .replies import ReplyBuilder
from .requests import image_urls, parse_request, to_messages, to_options
from .worker import EngineWorker

HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def create_app(engine: Engine, *, settings: Settings, token: str, extra_hosts: Iterable[str] = ()) -> Guard:
    """The ASGI application serving `engine` (loaded) with `settings.serve`'s queue and limits."""
    info = engine.info()
    worker = EngineWorker(engine, queue_size=settings.serve.queue)
    base = options_from_settings(settings)
    created = int(time.time())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(worker.close)

    api = FastAPI(title="Spyglass", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    api.state.worker = worker
    _error_shapes(api)
    model_entry = {"id": info.model, "object": "model", "created": created, "owned_by": "spyglass"}

    @api.get("/health")
    async def health() -> dict:
        return {"status": "ok", "model": info.model, "engine": info.backend, "requests": worker.admitted}

    @api.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [model_entry]}

    @api.get("/v1/models/{model_id:path}")
    async def model(model_id: str) -> dict:
        if model_id != info.model:
            raise _unknown_model(model_id, info.model)
        return model_entry

    @api.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> CompletionResponse:
        chat = parse_request(await request.body())
        if chat.model != info.model:
            raise _unknown_model(chat.model, info.model)
        worker.reserve()
        try:
            urls, images = image_urls(chat), []
            if urls:
                images = await run_in_threadpool(read_images, urls, allow_remote=settings.serve.allow_remote_images)
            job = worker.submit(to_messages(chat, images), to_options(chat, base))
        except BaseException:
            worker.release()
            raise
        reply = ReplyBuilder(info.model)
        return CompletionResponse(job, worker, reply, stream=chat.stream, usage=chat.include_usage)

    return Guard(api, token=token, max_body_bytes=settings.serve.max_body_bytes, extra_hosts=extra_hosts)


def _unknown_model(asked: str, served: str) -> ApiError:
    return ApiError(404, f"the model {asked!r} is not served here; this server serves {served!r}", "model_not_found")


def _error_shapes(api: FastAPI) -> None:
    """Every error in the OpenAI shape: ours, the router's (404, 405), and unexpected ones (500)."""

    def respond(error: ApiError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status, headers=error.headers())

    @api.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return respond(error)

    @api.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        return respond(ApiError(error.status_code, str(error.detail), HTTP_CODES.get(error.status_code, "http_error")))

    @api.exception_handler(Exception)
    async def server_error(_: Request, error: Exception) -> JSONResponse:
        return respond(ApiError(500, f"internal error: {type(error).__name__}: {error}", "internal_error"))
