"""Ingestion test helpers: a clock for the time bounds (a malformed file must fail within 5 s)."""

import time

import pytest


@pytest.fixture
def within():
    """`with within(5): ...` fails the test if the block takes longer than the given seconds."""

    class _Within:
        def __init__(self, seconds: float) -> None:
            self.seconds = seconds

        def __enter__(self):
            self.start = time.monotonic()
            return self

        def __exit__(self, *exc):
            self.elapsed = time.monotonic() - self.start
            assert self.elapsed < self.seconds, f"took {self.elapsed:.2f} s, more than {self.seconds} s"
            return False

    return _Within
