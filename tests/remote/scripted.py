"""A real OpenAI-compatible HTTP server (Starlette on uvicorn) that streams scripted replies, for
the faults a real model server shows rarely: 503s before the stream, an error after tokens, a
stall, streamed tool-call fragments. The script is the first path segment of the base URL
(`http://127.0.0.1:PORT/<script>/v1`); every chat request is counted per script. It runs in a
thread (`serve_in_thread`) or, to be killed mid-stream, as a process:
`python -m tests.remote.scripted` prints its port and serves until killed.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MODEL = "scripted-model"


def chunk(delta: dict | None = None, finish: str | None = None, **extra) -> dict:
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish, **extra}
    return {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": MODEL, "choices": [choice]}


def usage(prompt: int, completion: int, cached: int = 0) -> dict:
    return {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": MODEL, "choices": [],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion, "prompt_tokens_details": {"cached_tokens": cached}}}


def call(index: int, *, name: str | None = None, arguments: str = "", id: str | None = None) -> dict:
    function = {"arguments": arguments} | ({"name": name} if name else {})
    return {"index": index, "type": "function", "function": function} | ({"id": id} if id else {})


HELLO = [chunk({"role": "assistant", "content": ""}), chunk({"content": "Hello"}), chunk({"content": " world"}),
         chunk(finish="stop"), usage(11, 2)]
TOOLS = [chunk({"role": "assistant", "content": "Checking."}),
         chunk({"tool_calls": [call(0, name="get_weather", id="call_a", arguments="")]}),
         chunk({"tool_calls": [call(0, arguments='{"city": "Pa')]}),
         chunk({"tool_calls": [call(0, arguments='ris", "days": 2}')]}),
         chunk({"tool_calls": [call(1, name="broken", id="call_b", arguments='{"x": ')]}),
         chunk({"tool_calls": [call(1, arguments="1,,}")]}),
         chunk(finish="tool_calls"), usage(30, 12, cached=8)]
REASONING = [chunk({"role": "assistant", "reasoning_content": "The user "}), chunk({"reasoning_content": "greets."}),
             chunk({"content": "<think>inner</think>Hi "}), chunk({"content": "<mm:think>m3 way</mm:"}),
             chunk({"content": "think>there"}), chunk(finish="stop", stop_reason="END"), usage(5, 7)]


class Scripts:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.bodies: dict[str, list[dict]] = {}
        self.key: str | None = None  # when set, a bearer token every request must carry

    async def models(self, request: Request) -> Response:
        if not self._authorized(request):
            return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
        return JSONResponse({"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0,
                                                         "owned_by": "tests"}]})

    async def chat(self, request: Request) -> Response:
        script = request.path_params["script"]
        if not self._authorized(request):
            return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
        self.requests[script] += 1
        self.bodies.setdefault(script, []).append(await request.json())
        if script == "flaky" and self.requests[script] <= 2:
            return JSONResponse({"error": {"message": "warming up"}}, status_code=503,
                                headers={"retry-after-ms": "10"})
        return StreamingResponse(self._events(script), media_type="text/event-stream")

    def _authorized(self, request: Request) -> bool:
        return self.key is None or request.headers.get("authorization") == f"Bearer {self.key}"

    async def _events(self, script: str) -> AsyncIterator[str]:
        if script in ("hello", "flaky"):
            for c in HELLO:
                yield sse(c)
        elif script == "tools":
            for c in TOOLS:
                yield sse(c)
        elif script == "reasoning":
            for c in REASONING:
                yield sse(c)
        elif script == "midfail":  # tokens, then the error event vLLM sends when its engine dies
            yield sse(chunk({"role": "assistant", "content": "Par"}))
            yield sse(chunk({"content": "tial"}))
            yield sse({"error": {"message": "engine core died", "type": "InternalServerError", "code": 500}})
            return
        elif script == "stall":  # one token, then silence
            yield sse(chunk({"role": "assistant", "content": "Wait"}))
            await asyncio.sleep(3600)
        elif script == "endless":  # a token every 20 ms until the client goes
            yield sse(chunk({"role": "assistant", "content": ""}))
            for n in range(100_000):
                yield sse(chunk({"content": f"t{n} "}))
                await asyncio.sleep(0.02)
        else:
            yield sse({"error": {"message": f"no script {script!r}"}})
        yield "data: [DONE]\n\n"


def free_port() -> int:
    """A loopback port nothing listens on (for a refused connection)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sse(data: dict) -> str:
    return f"data: {json.dumps(data)}\n\n"


def make_app(scripts: Scripts) -> Starlette:
    return Starlette(routes=[Route("/{script}/v1/models", scripts.models),
                             Route("/{script}/v1/chat/completions", scripts.chat, methods=["POST"])])


class ThreadServer:
    """The app on uvicorn in a daemon thread, on a free loopback port; `stop()` ends it."""

    def __init__(self) -> None:
        self.scripts = Scripts()
        config = uvicorn.Config(make_app(self.scripts), host="127.0.0.1", port=0, log_level="warning",
                                timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the scripted server did not start"
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]

    def url(self, script: str) -> str:
        return f"http://127.0.0.1:{self.port}/{script}/v1"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def main() -> None:
    config = uvicorn.Config(make_app(Scripts()), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)

    async def announce() -> None:
        while not server.started:
            await asyncio.sleep(0.01)
        print(server.servers[0].sockets[0].getsockname()[1], flush=True)

    async def run() -> None:
        await asyncio.gather(server.serve(), announce())

    asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
