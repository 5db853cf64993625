"""The stream parser on M3 output cut at every possible point."""

import pytest

from core.events import MalformedToolCall, ReasoningDelta, TextDelta, ToolCall
from core.model.stream import StreamParser

P = "]<]minimax[>["
OUTPUT = (f"<mm:think>check the weather</mm:think>Let me look.{P}<tool_call>{P}<invoke name=\"get_weather\">"
          f"{P}<city>Paris{P}</city>{P}<unit>C{P}</unit>{P}</invoke>{P}</tool_call>Done.")


def collapse(events):
    """Merge adjacent deltas of one kind, so events compare independently of chunking."""
    out = []
    for e in events:
        if out and type(e) is type(out[-1]) and isinstance(e, (TextDelta, ReasoningDelta)):
            out[-1] = type(e)(out[-1].text + e.text)
        else:
            out.append(e)
    return out


EXPECTED = [ReasoningDelta("check the weather"), TextDelta("Let me look."),
            ToolCall("get_weather", {"city": "Paris", "unit": "C"}), TextDelta("Done.")]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 13, len(OUTPUT)])
def test_any_chunking_gives_the_same_events(size):
    parser = StreamParser()
    events = []
    for i in range(0, len(OUTPUT), size):
        events += parser.feed(OUTPUT[i:i + size])
    events += parser.feed("", final=True)
    assert collapse(events) == EXPECTED


def test_text_that_only_looks_like_a_tag_start_is_released_at_the_end():
    parser = StreamParser()
    assert parser.feed("a < b and <mm:") == [TextDelta("a < b and ")]
    assert parser.feed("", final=True) == [TextDelta("<mm:")]


def test_closing_tags_without_the_prefix_still_parse():
    parser = StreamParser()
    text = f'{P}<tool_call>{P}<invoke name="f"><x>1</x><y> two </y></invoke>{P}</tool_call>'
    assert parser.feed(text) + parser.feed("", final=True) == [ToolCall("f", {"x": "1", "y": "two"})]


def test_garbled_tool_call_is_reported_not_executed():
    parser = StreamParser()
    events = parser.feed(f"{P}<tool_call><invoke name=oops>{P}</tool_call>") + parser.feed("", final=True)
    assert events == [MalformedToolCall("<invoke name=oops>")]


def test_qwen_and_hermes_replies_parse_into_the_same_events():
    from core.model.stream import HERMES_FORMAT, M3_FORMAT, reply_format

    assert reply_format("{{ ']<]minimax[>[' }}") is M3_FORMAT and reply_format("<|im_start|>") is HERMES_FORMAT
    parser = StreamParser(fmt=HERMES_FORMAT)
    chunks = ["<thi", "nk>let me see</th", "ink>It is ", "sunny.<tool_", 'call>{"name": "weather", "argu',
              'ments": {"city": "Paris"}}</tool_call>', "<tool_call>not json</tool_call>"]
    events = [e for c in chunks for e in parser.feed(c)] + parser.feed("", final=True)
    assert collapse(events) == [ReasoningDelta("let me see"), TextDelta("It is sunny."),
                                ToolCall("weather", {"city": "Paris"}), MalformedToolCall("not json")]
