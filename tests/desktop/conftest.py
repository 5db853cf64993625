"""The desktop tests' real X display: the process's one shared Xvfb (tests/xdesktop.py), since
pyautogui binds to the first display it sees in a process."""

import pytest

from tests.xdesktop import shared_desktop


@pytest.fixture(scope="session")
def desktop():
    with shared_desktop() as display:
        yield display
