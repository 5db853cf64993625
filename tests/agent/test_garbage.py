"""Garbled model output never becomes an action: 600 garbled replies, each read under every grammar
and on two frames, and every fixed case, all Rejected. No timing is asserted; the pytest timeout
bounds the run."""

import pytest

from core.agent.parse import GRAMMARS, parse_reply
from core.agent.steps import Rejected
from core.desktop import Frame
from core.events import MalformedToolCall, ToolCall
from core.messages import ScreenGeometry
from tests.agent.garbage import fixed_cases, garbled_replies, truncations

FRAMES = [
    Frame("shot-1", ScreenGeometry(0, 0, 1920, 1080), pixels=(1920, 1080), model=(1288, 812)),
    Frame("shot-2", ScreenGeometry(0, 0, 3840, 2160, scale=2.0), pixels=(7680, 4320), model=(3840, 2160)),
]
REPLIES = garbled_replies(7, 600)


def test_the_generator_is_deterministic_and_mixes_fixed_and_random_replies():
    shown = repr(REPLIES)  # NaN arguments: compare as text
    assert len(REPLIES) == 600 and shown == repr(garbled_replies(7, 600)) != repr(garbled_replies(8, 600))
    assert [len(garbled_replies(7, n)) for n in (0, 1, 10, 2000)] == [0, 1, 10, 2000]
    fixed = {repr(r) for r in fixed_cases()}
    assert sum(repr(r) in fixed for r in REPLIES) >= 480 and len(truncations()) > 300
    for calls, text in REPLIES:
        assert isinstance(text, str) and all(isinstance(c, ToolCall | MalformedToolCall) for c in calls)


def rejects_all(replies, frame, grammar):
    acted = []
    for calls, text in replies:
        result = parse_reply(calls, text, frame, grammar=grammar)
        if not isinstance(result, Rejected):
            acted.append((calls, text[:200], result))
        else:
            assert result.reason and len(result.raw) <= 2000
    assert acted == []


@pytest.mark.parametrize("grammar", GRAMMARS)
@pytest.mark.parametrize("frame", FRAMES, ids=["small", "4k"])
def test_every_garbled_reply_is_rejected(grammar, frame):
    rejects_all(REPLIES, frame, grammar)


@pytest.mark.parametrize("grammar", GRAMMARS)
def test_every_fixed_case_is_rejected(grammar):
    rejects_all(fixed_cases(), FRAMES[0], grammar)
