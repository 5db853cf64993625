"""The GPU edition's self-test pieces, without the multi-GB bundle: the checkpoint that
packaging/tiny_msa.py writes loads in core.engine.msa and streams a reply (the "msa reply" check
itself), the "triton kernel" check passes (under the interpreter here: tests/conftest.py sets
TRITON_INTERPRET=1 without a GPU), and the interpreter switch refuses to pretend once triton
was imported without it. The frozen bundle is checked by `make package-gpu` and
packaging/selftest-bundle.sh."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.selftest import msa

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "packaging"))

import tiny_msa  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_msa.write(tmp_path_factory.mktemp("selftest") / "tiny-m3-msa")


def test_checkpoint_streams_through_our_runtime(checkpoint):
    assert sorted(p.name for p in checkpoint.iterdir()) == sorted(tiny_msa.FILES)
    assert sum(p.stat().st_size for p in checkpoint.iterdir()) < 2 * 10**6  # tiny: it ships in the bundle
    line = msa.msa_reply(checkpoint)
    assert line.startswith("8 deltas streamed from tiny-m3-msa") and line.endswith("finished: length"), line


def test_missing_checkpoint_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="no self-test checkpoint"):
        msa.msa_reply(tmp_path / "absent")


def test_triton_kernel_check_matches_the_reference():
    line = msa.triton_kernel()
    assert "matches kernels.msa.reference" in line and "Python.h present" in line, line
    assert msa.jit_sources("kernels.msa") >= 5  # scoring's kernels and helpers at least


def test_a_jit_function_without_source_is_named(monkeypatch):
    """What a bundle holding only bytecode would do: Triton's source read fails, and the check says where."""
    import inspect

    msa.triton_kernel()  # kernels.msa loaded

    def no_source(fn):
        raise OSError("could not get source code")

    monkeypatch.setattr(inspect, "getsourcelines", no_source)
    with pytest.raises(OSError, match=r"no source for @jit kernels\.msa\."):
        msa.jit_sources("kernels.msa")


def test_interpreter_switch_refuses_after_triton_was_imported():
    """Without a GPU, TRITON_INTERPRET must be set before triton is imported; a late call says so."""
    code = textwrap.dedent("""
        import torch, triton
        from app.selftest import msa
        if torch.cuda.is_available():
            print("cuda")
        else:
            try:
                msa.use_interpreter_without_cuda()
            except RuntimeError as err:
                print("refused:", err)
    """)
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"} | {"PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith(("refused: triton was imported before", "cuda")), run.stdout


@pytest.mark.parametrize(("frozen", "torch_found", "given", "expected"), [
    (True, False, None, None),  # the lite bundle: no torch, so its 8 checks stay 8
    (True, True, None, "bundle/selftest/tiny-m3-msa"),  # the GPU bundle: its own checkpoint
    (False, True, None, None),  # a dev run: only with --self-test-msa
    (False, True, "mine", "mine"),
])
def test_the_msa_checks_run_where_torch_is_bundled(monkeypatch, frozen, torch_found, given, expected):
    import importlib.util

    import app.selftest as selftest

    for name in ("CONFIG", "DATA", "CACHE"):  # run_self_test points these at its folder: restored after
        monkeypatch.setenv(f"XDG_{name}_HOME", "unused")
    seen = []
    monkeypatch.setattr(selftest, "_run_checks", lambda root, model, checkpoint: seen.append(checkpoint) or 0)
    if frozen:
        monkeypatch.setattr(sys, "_MEIPASS", "bundle", raising=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: (real(name, *a) if torch_found else None)
                        if name == "torch" else real(name, *a))
    assert selftest.run_self_test(msa=given) == 0
    assert seen == [Path(expected) if expected else None]
