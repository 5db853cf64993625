"""The agent tests' real X display: the process's one shared two-monitor Xvfb
(tests/xdesktop.py). Session scope, because pyautogui binds to the first display it sees in a
process; tests/agent/target.py starts the window they drive."""

import pytest

from tests.xdesktop import shared_desktop


@pytest.fixture(scope="session")
def desktop():
    with shared_desktop() as display:
        yield display
