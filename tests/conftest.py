"""Shared test setup: device choice, poisoned output buffers, reproducible seeds.

The device is decided at import time, before any test module imports triton,
because triton reads TRITON_INTERPRET as kernel modules are imported: without a
CUDA device the kernels run on CPU under the Triton interpreter. SPYGLASS_TEST_DEVICE, when
set, overrides the choice; the decision is written back to the environment so
xdist workers inherit it.
Each test gets its own seed from its node id, so runs repeat exactly (also under
xdist, whatever worker a test lands on) while different tests draw different data.
"""

import os
import zlib

import pytest
import torch

if "SPYGLASS_TEST_DEVICE" not in os.environ:
    os.environ["SPYGLASS_TEST_DEVICE"] = "cuda" if torch.cuda.is_available() else "cpu"
if os.environ["SPYGLASS_TEST_DEVICE"] == "cpu":
    os.environ.setdefault("TRITON_INTERPRET", "1")

INT_SENTINEL = -12345


@pytest.fixture(scope="session")
def device() -> str:
    return os.environ["SPYGLASS_TEST_DEVICE"]


@pytest.fixture
def poisoned():
    """Factory for output buffers a kernel under test writes into.

    Floating buffers are filled with NaN and integer ones with -12345, so an
    element the kernel never writes fails the comparison with the reference
    instead of passing by luck on zero-initialised memory.
    """

    def make(shape, dtype: torch.dtype, device) -> torch.Tensor:
        fill = float("nan") if dtype.is_floating_point else INT_SENTINEL
        return torch.full(shape, fill, dtype=dtype, device=device)

    return make


@pytest.fixture(autouse=True)
def seeded(request) -> int:
    seed = zlib.crc32(request.node.nodeid.encode())
    torch.manual_seed(seed)
    return seed


@pytest.fixture(scope="session")
def desktop():
    """The process's one real X display with two monitors (tests/xdesktop.py): session-wide,
    because pyautogui binds to the first display it sees in a process."""
    from tests.xdesktop import shared_desktop

    with shared_desktop() as display:
        yield display
