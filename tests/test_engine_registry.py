"""The registry is the one way to a backend: the CLI and the window reach a backend added in one
module (tests/echo_engine.py) through it, and its refusals name the fix."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.engine import Backend, EngineError, backends, choose_backend, open_engine, register, unregister
from core.settings import MsaSettings, Settings

from tests.echo_engine import ECHO, EchoEngine

ROOT = Path(__file__).resolve().parents[1]
CLI = "import sys, tests.echo_engine; from app.__main__ import main; sys.exit(main(sys.argv[1:]))"


def test_the_cli_reaches_an_added_backend_through_the_registry(tmp_path):
    model = tmp_path / "parrot.echo"
    model.write_text("")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", CLI, "chat", "--model", str(model), "hello there"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "echo: hello there"
    forced = subprocess.run([sys.executable, "-c", CLI, "chat", "--engine", "echo", "--model", str(tmp_path), "hi"],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert forced.returncode == 0 and forced.stdout.strip() == "echo: hi", forced.stderr


def test_auto_detection_and_forcing_log_why(tmp_path, caplog):
    model = tmp_path / "m.echo"
    model.write_text("")
    assert choose_backend(Settings(model_dir=str(model))) == (ECHO, "an .echo file")
    with caplog.at_level("INFO", logger="core.engine.registry"):
        engine = open_engine(Settings(model_dir=str(tmp_path), engine="echo"))
    assert isinstance(engine, EchoEngine) and "engine backend: echo (the engine setting is 'echo')" in caplog.text
    assert [b.name for b in backends()][:3] == ["msa", "gguf", "remote"]


def test_refusals_name_the_fix(tmp_path):
    with pytest.raises(EngineError, match="engine backend 'llama' is unknown; choose one of auto, msa, gguf"):
        open_engine(Settings(model_dir=str(tmp_path), engine="llama"))
    register(Backend("later", "Later (coming)", "tests.echo_engine:EchoEngine", coming=True))
    try:
        with pytest.raises(EngineError, match="Later \\(coming\\) backend is coming in a later release"):
            open_engine(Settings(model_dir=str(tmp_path), engine="later"))
    finally:
        unregister("later")
    with pytest.raises(EngineError, match="no model is set"):
        open_engine(Settings())
    with pytest.raises(EngineError, match="does not exist"):
        open_engine(Settings(model_dir=str(tmp_path / "nowhere")))
    with pytest.raises(EngineError, match="holds no model Spyglass can run"):
        open_engine(Settings(model_dir=str(tmp_path)))
    register(Backend("needy", "Needy", "tests.echo_engine:EchoEngine", requires=("no_such_module_xyz",)))
    try:
        with pytest.raises(EngineError, match="needs no_such_module_xyz, which is not installed"):
            open_engine(Settings(model_dir=str(tmp_path), engine="needy"))
    finally:
        unregister("needy")


def test_a_big_checkpoint_without_a_gpu_points_at_the_gguf_route(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with open(tmp_path / "model-00001-of-00001.safetensors", "wb") as f:
        f.truncate(9 * 10**9)  # sparse: no disk is used
    with pytest.raises(EngineError, match="holds 9 GB of weights; without an NVIDIA GPU .* Use a quantized GGUF"):
        open_engine(Settings(model_dir=str(tmp_path), msa=MsaSettings(device="cpu")))
