"""parse_reply: every tool-call and grammar form to its exact Action, and each strictness rule to a
Rejected whose reason names the problem."""

import json

import pytest

from core.agent.parse import GRAMMARS, parse_reply
from core.agent.steps import Rejected
from core.desktop import Action, Frame, Point
from core.events import MalformedToolCall, ToolCall
from core.messages import ScreenGeometry

FRAME = Frame("shot-3", ScreenGeometry(left=0, top=0, width=1920, height=1080), pixels=(1920, 1080), model=(1288, 812))
W, H = FRAME.model


def P(x, y):
    return Point(x, y, "model")


def A(kind, **kw):
    return Action(kind, "shot-3", **kw)


def computer(**arguments):
    return [ToolCall("computer", arguments)]


def parsed(calls, text="", grammar="auto"):
    result = parse_reply(calls, text, FRAME, grammar=grammar)
    assert isinstance(result, Action), result
    return result


def rejected(calls, text="", grammar="auto"):
    result = parse_reply(calls, text, FRAME, grammar=grammar)
    assert isinstance(result, Rejected), result
    return result


TOOL_CALLS = [
    (dict(action="click", coordinate=[100, 200]), A("click", point=P(100, 200))),
    (dict(action="double_click", coordinate=[0, 0]), A("double_click", point=P(0, 0))),
    (dict(action="right_click", coordinate=[1287, 811]), A("right_click", point=P(1287, 811))),
    (dict(action="move", coordinate=[10.5, 20.25]), A("move", point=P(10.5, 20.25))),
    (dict(action="zoom", coordinate=[640, 400]), A("zoom", point=P(640, 400))),
    (dict(action="drag", coordinate=[1, 2], end_coordinate=[300, 400]), A("drag", point=P(1, 2), end=P(300, 400))),
    (
        dict(action="drag", coordinate=[1, 2], end_coordinate=[3, 4], seconds=1.5),
        A("drag", point=P(1, 2), end=P(3, 4), seconds=1.5),
    ),
    (dict(action="scroll", coordinate=[5, 6], amount=3, direction="down"), A("scroll", point=P(5, 6), amount=3)),
    (dict(action="scroll", coordinate=[5, 6], amount=3, direction="up"), A("scroll", point=P(5, 6), amount=-3)),
    (
        dict(action="scroll", coordinate=[5, 6], amount=2, direction="left"),
        A("scroll", point=P(5, 6), amount=-2, horizontal=True),
    ),
    (
        dict(action="scroll", coordinate=[5, 6], amount=2.0, direction="right"),
        A("scroll", point=P(5, 6), amount=2, horizontal=True),
    ),
    (dict(action="type", text="hello\tworld\n"), A("type", text="hello\tworld\n")),
    (dict(action="type", text="a\r\nb\rc"), A("type", text="a\nb\nc")),
    (dict(action="key", keys=["Return"]), A("key", keys=("enter",))),
    (dict(action="key", keys=["ctrl", "s"]), A("hotkey", keys=("ctrl", "s"))),
    (dict(action="hotkey", keys=["Control", "Shift", "T"]), A("hotkey", keys=("ctrl", "shift", "t"))),
    (dict(action="hotkey", keys=["ctrl+c"]), A("hotkey", keys=("ctrl", "c"))),
    (dict(action="key", keys=["Escape"]), A("key", keys=("esc",))),
    (dict(action="wait", seconds=2), A("wait", seconds=2.0)),
    (dict(action="wait"), A("wait", seconds=5.0)),
    (dict(action="screenshot"), A("screenshot")),
    (dict(action="done", text="Saved the file."), A("done", text="Saved the file.")),
    (dict(action="done"), A("done")),
    (dict(action="fail", text="No such menu."), A("fail", text="No such menu.")),
    # Qwen2.5-VL computer_use names
    (dict(action="left_click", coordinate=[7, 8]), A("click", point=P(7, 8))),
    (dict(action="mouse_move", coordinate=[7, 8]), A("move", point=P(7, 8))),
    (
        dict(action="left_click_drag", start_coordinate=[7, 8], coordinate=[70, 80]),
        A("drag", point=P(7, 8), end=P(70, 80)),
    ),
    (
        dict(action="left_click_drag", coordinate=[7, 8], end_coordinate=[70, 80]),
        A("drag", point=P(7, 8), end=P(70, 80)),
    ),
    (dict(action="scroll", coordinate=[5, 6], pixels=3), A("scroll", point=P(5, 6), amount=-3)),
    (dict(action="scroll", coordinate=[5, 6], pixels=-4), A("scroll", point=P(5, 6), amount=4)),
    (dict(action="key", keys=["ctrl", "alt", "Delete"]), A("hotkey", keys=("ctrl", "alt", "delete"))),
    (dict(action="wait", time=1.5), A("wait", seconds=1.5)),
    (dict(action="terminate", status="success"), A("done")),
    (dict(action="terminate", status="failure"), A("fail")),
    # M3 carries every value as text: numbers and lists arrive as JSON
    (dict(action="click", coordinate="[100, 200]"), A("click", point=P(100, 200))),
    (dict(action="key", keys='["ctrl", "v"]'), A("hotkey", keys=("ctrl", "v"))),
    (dict(action="wait", seconds="3"), A("wait", seconds=3.0)),
]


@pytest.mark.parametrize("arguments,expected", TOOL_CALLS)
def test_tool_call_arguments_become_the_exact_action(arguments, expected):
    assert parsed(computer(**arguments)) == expected


KEY_ALIASES = [
    (["Return"], ("enter",)), (["Escape"], ("esc",)), (["Control", "a"], ("ctrl", "a")),
    (["Meta"], ("win",)), (["Super"], ("win",)), (["Cmd", "Q"], ("win", "q")), (["Command"], ("win",)),
    (["Page_Down"], ("pagedown",)), (["PageUp"], ("pageup",)), (["ArrowUp"], ("up",)), (["F5"], ("f5",)),
    (["BackSpace"], ("backspace",)), (["Del"], ("delete",)), ([" "], ("space",)), (["Tab"], ("tab",)),
    (["ctrl c"], ("ctrl", "c")), (["Ctrl+Shift+Esc"], ("ctrl", "shift", "esc")), (["ctrl++"], ("ctrl", "+")), (["ctrl +"], ("ctrl", "+")),
    (["+"], ("+",)), (["alt", "F4"], ("alt", "f4")), (["/"], ("/",)),
]  # fmt: skip


@pytest.mark.parametrize("names,keys", KEY_ALIASES)
def test_key_names_and_aliases_become_pyautogui_names(names, keys):
    assert parsed(computer(action="key", keys=names)) == A("key" if len(keys) == 1 else "hotkey", keys=keys)


def test_the_reply_text_beside_a_tool_call_is_the_note_and_computer_use_is_our_tool():
    assert parsed(computer(action="screenshot"), "  Let me look again.\n") == A("screenshot", note="Let me look again.")
    assert parsed([ToolCall("computer_use", {"action": "left_click", "coordinate": [1, 2]})]) == A(
        "click", point=P(1, 2)
    )


def test_a_hermes_block_left_in_the_text_is_read():
    body = json.dumps({"name": "computer", "arguments": {"action": "click", "coordinate": [30, 40]}})
    assert parsed([], f"I will press OK.\n<tool_call>\n{body}\n</tool_call>") == A(
        "click", point=P(30, 40), note="I will press OK."
    )


def test_tool_calls_read_normalised_coordinates_only_when_told():
    assert parsed(computer(action="click", coordinate=[500, 500]), grammar="normalized") == A(
        "click", point=P(500 * W / 1000, 500 * H / 1000)
    )
    reason = rejected(computer(action="click", coordinate=[1000, 900])).reason
    assert "outside the 1288x812 image" in reason


GRAMMAR_LINES = [
    ("click(start_box='(100,200)')", A("click", point=P(100, 200))),
    ("click(start_box='<|box_start|>(100,200)<|box_end|>')", A("click", point=P(100, 200))),
    ("click(start_box='(100,200,300,400)')", A("click", point=P(200, 300))),
    ("click(start_box='[100, 200, 300, 400]')", A("click", point=P(200, 300))),
    ("click(point='<point>100 200</point>')", A("click", point=P(100, 200))),
    ("click(start_point='<point>100 200</point>')", A("click", point=P(100, 200))),
    ("click(start_box='<bbox>10 20 30 40</bbox>')", A("click", point=P(20, 30))),
    ("click(start_box='<|box_start|>(10,20),(30,40)<|box_end|>')", A("click", point=P(20, 30))),
    ("left_double(start_box='(5,6)')", A("double_click", point=P(5, 6))),
    ("right_single(start_box='(5,6)')", A("right_click", point=P(5, 6))),
    ("hover(point='<point>5 6</point>')", A("move", point=P(5, 6))),
    ("drag(start_box='(1,2)', end_box='(30,40)')", A("drag", point=P(1, 2), end=P(30, 40))),
    (
        "drag(start_point='<point>1 2</point>', end_point='<point>30 40</point>')",
        A("drag", point=P(1, 2), end=P(30, 40)),
    ),
    ("hotkey(key='ctrl c')", A("hotkey", keys=("ctrl", "c"))),
    ("hotkey(key='ctrl shift t')", A("hotkey", keys=("ctrl", "shift", "t"))),
    ("press(key='enter')", A("key", keys=("enter",))),
    ("key(key='Escape')", A("key", keys=("esc",))),
    ("hotkey(key='super')", A("key", keys=("win",))),
    ("type(content='hello')", A("type", text="hello")),
    ("type(content='It\\'s done\\n')", A("type", text="It's done\n")),
    ('type(content="say \\"hi\\"\\tnow")', A("type", text='say "hi"\tnow')),
    ("type(content='C:\\\\temp')", A("type", text="C:\\temp")),
    ("scroll(start_box='(50,60)', direction='down')", A("scroll", point=P(50, 60), amount=5)),
    ("scroll(start_box='(50,60)', direction='up')", A("scroll", point=P(50, 60), amount=-5)),
    (
        "scroll(point='<point>50 60</point>', direction='left')",
        A("scroll", point=P(50, 60), amount=-5, horizontal=True),
    ),
    ("wait()", A("wait", seconds=5.0)),
    ("finished(content='All saved.')", A("done", text="All saved.")),
    ("finished()", A("done")),
    ("call_user()", A("fail", text="the model asks for the user")),
]


@pytest.mark.parametrize("line,expected", GRAMMAR_LINES)
def test_grammar_lines_become_the_exact_action(line, expected):
    assert parsed([], f"Action: {line}", grammar="pixels") == expected


def test_the_thought_is_the_note():
    text = "Thought: The Save button is at the top.\nI click it.\nAction: click(start_box='(10,20)')\n"
    assert parsed([], text) == A("click", point=P(10, 20), note="The Save button is at the top.\nI click it.")


def test_normalised_coordinates_scale_to_the_model_image():
    line = "Action: click(start_box='(500,250)')"
    assert parsed([], line, grammar="normalized") == A("click", point=P(500 * W / 1000, 250 * H / 1000))
    assert parsed([], line, grammar="pixels") == A("click", point=P(500, 250))
    box = "Action: click(start_box='(100,100,300,500)')"
    assert parsed([], box, grammar="normalized") == A("click", point=P(200 * W / 1000, 300 * H / 1000))


def test_auto_reads_pixels_when_every_value_fits_and_normalised_otherwise():
    assert parsed([], "Action: click(start_box='(500,800)')") == A("click", point=P(500, 800))
    assert parsed([], "Action: click(start_box='(500,900)')") == A("click", point=P(500 * W / 1000, 900 * H / 1000))
    drag = "Action: drag(start_box='(100,100)', end_box='(500,900)')"  # one value decides for both points
    assert parsed([], drag) == A("drag", point=P(100 * W / 1000, 100 * H / 1000), end=P(500 * W / 1000, 900 * H / 1000))
    assert "outside the 1288x812 image" in rejected([], "Action: click(start_box='(1200,1100)')").reason
    assert "outside" in rejected([], "Action: click(start_box='(500,1000)')").reason  # 1000 is the edge, past it


def test_grammars_are_named():
    assert GRAMMARS == ("auto", "pixels", "normalized")
    with pytest.raises(ValueError, match="grammar 'tars' is unknown"):
        parse_reply([], "", FRAME, grammar="tars")


REJECTIONS = [
    # one action per reply
    (computer(action="click", coordinate=[1, 1]) * 2, "", "one action per step; the model sent 2"),
    (computer(action="screenshot"), "Action: wait()", "one action per step; the model sent 2"),
    (
        computer(action="screenshot"),
        '<tool_call>{"name": "computer", "arguments": {}}</tool_call>',
        "one action per step",
    ),
    ([], "Action: wait()\nAction: wait()", "one action per step; the model sent 2 Action: lines"),
    ([], "Action: wait()\n\nwait()", "one action per step; after wait(…) the reply goes on"),
    ([], "<tool_call>{}</tool_call><tool_call>{}</tool_call>", "one action per step; the model sent 2"),
    ([MalformedToolCall('{"name": "computer", "arguments": {"act')], "", "the tool call was malformed"),
    ([], '<tool_call>{"name": "computer", "arguments": {"action": "wait"}', "is not closed"),
    ([], "<tool_call>{'name': 'computer'}</tool_call>", "the tool call was malformed"),
    ([ToolCall("shell", {"cmd": "ls"})], "", "the model called a tool named 'shell'"),
    # types
    (computer(coordinate=[1, 1]), "", "the tool call names no action"),
    (computer(action="teleport"), "", "action 'teleport' is unknown"),
    (computer(action="click"), "", "a click action needs coordinate"),
    (computer(action="click", coordinate="100,200"), "", "coordinate must be [x, y]"),
    (computer(action="click", coordinate=[True, 5]), "", "coordinate's x must be a number, not bool"),
    (computer(action="click", coordinate=["1", "2"]), "", "coordinate's x must be a number, not str"),
    (computer(action="click", coordinate=[1, 2, 3]), "", "coordinate must be [x, y]"),
    (computer(action="click", coordinate={"x": 1, "y": 2}), "", "coordinate must be [x, y]"),
    (computer(action="click", coordinate=None), "", "coordinate must be [x, y]"),
    (computer(action="click", coordinate=[float("nan"), 5]), "", "must be a finite number, not nan"),
    (computer(action="click", coordinate=[float("inf"), 5]), "", "must be a finite number, not inf"),
    (computer(action="click", coordinate=[10**400, 5]), "", "a number too large"),
    (computer(action="click", coordinate=[1e308, 5]), "", "outside the 1288x812 image"),
    (computer(action="click", coordinate=[-1, 5]), "", "outside the 1288x812 image"),
    (computer(action="click", coordinate=[1288, 5]), "", "outside the 1288x812 image"),
    (computer(action="click", coordinate=[5, 812]), "", "outside the 1288x812 image"),
    (computer(action="click", coordinate=[1, 1], text="x"), "", "the click action takes no text"),
    (computer(action="click", coordinate=[1, 1], button="left"), "", "unknown argument 'button'"),
    (computer(action="type", text=5), "", "the typed text must be a string, not 5"),
    (computer(action="type"), "", "a type action needs text"),
    (computer(action="type", text=""), "", "a type action needs text of 1 to 2000 characters, not 0"),
    (computer(action="type", text="x" * 2001), "", "the typed text is 2001 characters long; at most 2000"),
    (computer(action="type", text="rm\x1b[2J"), "", "control character U+001B at position 2"),
    (computer(action="type", text="a\x00b"), "", "control character U+0000"),
    (computer(action="type", text="abc\u202egnp.exe"), "", "control character U+202E"),
    (computer(action="type", text="\ud800"), "", "control character U+D800"),
    (computer(action="done", text="x" * 2001), "", "the done text is 2001 characters long; at most 2000"),
    ([], f"Action: finished(content='{'x' * 2001}')", "the summary is 2001 characters long; at most 2000"),
    # keys
    (computer(action="key", keys=["hyper"]), "", "key 'hyper' is not a key name"),
    (computer(action="key", keys=["ctrl", "é"]), "", "key 'é' is not a key name"),
    (computer(action="key", keys="ctrl+c"), "", "keys must be a list of key names"),
    (computer(action="key", keys=[]), "", "keys names 1 to 8 keys, not 0"),
    (computer(action="key", keys=[1]), "", "keys must be a list of key names"),
    (computer(action="key", keys=["ctrl+"]), "", "the chord 'ctrl+' has an empty key name"),
    (computer(action="key", keys=["ctrl+++"]), "", "the chord 'ctrl+++' has an empty key name"),
    (computer(action="key", keys=["ctrl", "ctrl"]), "", "names a key twice"),
    (computer(action="key", keys=["ctrl", "alt", "shift", "win", "a"]), "", "2 to 4 keys together, not 5"),
    # caps and ranges
    (computer(action="scroll", coordinate=[1, 1], amount=51, direction="down"), "", "1 to 50 clicks"),
    (computer(action="scroll", coordinate=[1, 1], amount=-3, direction="down"), "", "must be positive"),
    (computer(action="scroll", coordinate=[1, 1], amount=1.5, direction="down"), "", "a whole number, not 1.5"),
    (computer(action="scroll", coordinate=[1, 1], amount=3, direction="sideways"), "", "direction must be one of"),
    (computer(action="scroll", coordinate=[1, 1], amount=3), "", "a scroll needs amount"),
    (computer(action="scroll", coordinate=[1, 1], pixels=10**100), "", "1 to 50 clicks"),
    (computer(action="scroll", coordinate=[1, 1], pixels=3, direction="up"), "", "not both"),
    (computer(action="scroll", amount=3, direction="up"), "", "a scroll action needs coordinate"),
    (computer(action="wait", seconds=600), "", "at most 30 seconds"),
    (computer(action="wait", seconds=0), "", "more than 0"),
    (computer(action="wait", seconds="true"), "", "seconds must be a number, not bool"),
    (computer(action="drag", coordinate=[1, 1], end_coordinate=[2, 2], seconds=60), "", "at most 5 seconds"),
    (computer(action="left_click_drag", coordinate=[5, 5]), "", "a drag needs both ends"),
    (computer(action="terminate", status="maybe"), "", "terminate needs status 'success' or 'failure'"),
    # the text grammar
    ([], "Action: teleport(start_box='(1,1)')", "action 'teleport' is unknown"),
    ([], "Action: click(start_box=(1,1))", "the value of start_box must be a quoted string"),
    ([], "Action: click('(1,1)')", "expected a named argument"),
    ([], "Action: click(start_box='(1,1)', button='left')", "click() takes no button argument"),
    ([], "Action: click(start_box='(1,1)', start_box='(2,2)')", "names the argument 'start_box' twice"),
    ([], "Action: click(start_box='(1,1)', point='<point>2 2</point>')", "takes only one of"),
    ([], "Action: click()", "click() needs start_box= or point= or start_point="),
    ([], "Action: click(start_box='(1,1)'", "expects ',' or ')'"),
    ([], "Action: click(start_box='(1,1)", "is not closed"),
    ([], "Action: click(start_box='(a,b)')", "is not a point"),
    ([], "Action: click(start_box='(1,2,3)')", "is not a point"),
    ([], "Action: click(start_box='(1,2)(3)')", "is not a point"),
    ([], "Action: click(start_box='(300,400,100,200)')", "corners are reversed"),
    ([], "Action: click(start_box='(-5,10)')", "outside"),
    ([], "Action: scroll(start_box='(1,1)', direction='around')", "direction= one of up, down, left, right"),
    ([], "Action: hotkey(key='ctrl foo')", "key 'foo' is not a key name"),
    ([], "Action: type(content='\x1b[31m')", "control character U+001B"),
    ([], "Action: type(content='')", "a type action needs text"),
    ([], "Action: click", "not followed by '('"),
    ([], "Action:", "holds no call"),
    ([], "Action: __import__('os').system('x')", "expected a named argument"),
    # no action at all
    ([], "", "the reply holds no action: it is empty"),
    ([], "I think the task is done.", "the reply holds no action: no tool call and no Action: line"),
    ([], "x" * (64 * 1024 + 1), "more than 65536 is not read"),
]


@pytest.mark.parametrize("calls,text,reason", REJECTIONS)
def test_each_rule_rejects_with_a_reason_that_names_it(calls, text, reason):
    assert reason in rejected(calls, text).reason


def test_normalised_values_past_1000_are_refused():
    assert (
        "outside the 0-1000 normalised range"
        in rejected([], "Action: click(start_box='(1001,5)')", grammar="normalized").reason
    )


def test_the_raw_reply_is_kept_and_cut():
    r = rejected(computer(action="teleport"), "thinking")
    assert r.raw == 'thinking\ncomputer({"action": "teleport"})'
    assert len(rejected([], "y" * 100_000).raw) == 2000
