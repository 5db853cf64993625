"""Real servers for the remote engine: llama-cpp-python's own OpenAI-compatible server running
the tiny converted MiniMax-M3 with its vision projector (started once, with an API key, and
killed at the end), and the scripted Starlette server (tests/remote/scripted.py) for faults."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.gguf.conftest import llama_cpp_dir, m3_folder, m3_gguf, m3_vision_gguf  # noqa: F401 - fixtures
from tests.remote.scripted import ThreadServer, free_port  # noqa: F401 - for the tests

SERVER_KEY = "sk-test-0123456789abcdef-remote"  # distinctive, so a leak into a file or a log is found
ALIAS = "tiny-m3"


@dataclass
class LlamaServer:
    url: str
    key: str
    model: str
    process: subprocess.Popen
    log: Path


def answers(url: str, key: str) -> bool:
    request = urllib.request.Request(url + "/models", headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return bool(json.load(response)["data"])
    except (urllib.error.URLError, OSError, ValueError):
        return False


@pytest.fixture(scope="session")
def llama_server(m3_vision_gguf, tmp_path_factory):  # noqa: F811 - the fixture imported above
    port = free_port()
    (projector,) = m3_vision_gguf.parent.glob("mmproj*.gguf")
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(m3_vision_gguf),
               "--clip_model_path", str(projector), "--chat_format", "mtmd", "--model_alias", ALIAS,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--flash_attn", "true",
               "--api_key", SERVER_KEY]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 300  # only so a broken server fails instead of hanging
    while not answers(url, SERVER_KEY):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"llama_cpp.server did not start (status {process.poll()}):\n"
                        + log.read_text(errors="replace")[-3000:])
        time.sleep(0.2)
    yield LlamaServer(url, SERVER_KEY, ALIAS, process, log)
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@pytest.fixture(scope="module")
def scripted():
    server = ThreadServer()
    yield server
    server.stop()
