"""One model reply to one Action, or a Rejected saying why it is none (shown, never executed).

One action per reply, found in this order: a tool call to `computer` (our argument names or Qwen2.5-VL
`computer_use`'s: left_click, left_click_drag, mouse_move, key with keys, scroll with pixels positive
up, wait with time, terminate with status), a Hermes `<tool_call>{json}</tool_call>` block left in
the text, an `Action:` line of the UI-TARS grammar (`core.agent.grammar`). Types are strict: a number
is finite and never a bool, an argument the action does not take is refused; but a number or a list
may come as JSON text, since M3's tool calls carry every value as text. Nothing is evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from core.agent.draft import CONVENTIONS, Draft, number, to_action, whole
from core.agent.grammar import NOTE_LIMIT, has_action_line, parse_action_text
from core.agent.keys import check_text, clean_note, normalise_keys
from core.agent.steps import Rejected
from core.agent.tool import DEFAULT_WAIT_SECONDS, DIRECTIONS, TOOL_KINDS, TOOL_NAME
from core.desktop.actions import Action, Frame
from core.events import MalformedToolCall, ToolCall

GRAMMARS = CONVENTIONS
TOOL_NAMES = (TOOL_NAME, "computer_use")
MAX_REPLY_CHARS = 64 * 1024
RAW_LIMIT = 2000
MAX_KEYS = 8
OPEN, CLOSE = "<tool_call>", "</tool_call>"
_POINTED = frozenset({"coordinate"})
_DRAG = frozenset({"coordinate", "end_coordinate", "start_coordinate", "seconds"})
CALL_ACTIONS: dict[str, tuple[str, frozenset[str]]] = {
    "click": ("click", _POINTED), "left_click": ("click", _POINTED),
    "double_click": ("double_click", _POINTED), "right_click": ("right_click", _POINTED),
    "move": ("move", _POINTED), "mouse_move": ("move", _POINTED), "zoom": ("zoom", _POINTED),
    "drag": ("drag", _DRAG), "left_click_drag": ("drag", _DRAG),
    "scroll": ("scroll", frozenset({"coordinate", "amount", "direction", "pixels"})),
    "type": ("type", frozenset({"text"})),
    "key": ("key", frozenset({"keys"})), "hotkey": ("key", frozenset({"keys"})),
    "wait": ("wait", frozenset({"seconds", "time"})), "screenshot": ("screenshot", frozenset()),
    "done": ("done", frozenset({"text"})), "fail": ("fail", frozenset({"text"})),
    "terminate": ("terminate", frozenset({"status", "text"})),
}  # fmt: skip
ARGUMENTS = frozenset().union(*(allowed for _, allowed in CALL_ACTIONS.values()))
_JSON_VALUED = {"coordinate", "end_coordinate", "start_coordinate", "keys", "amount", "seconds", "pixels", "time"}
TERMINATE = {"success": "done", "failure": "fail", "fail": "fail"}


def parse_reply(
    calls: Sequence[ToolCall | MalformedToolCall], text: str, frame: Frame, *, grammar: str = "auto"
) -> Action | Rejected:
    """The one Action of a reply, its points in the model's image space, or why there is none.

    `grammar` (one of GRAMMARS) says how coordinates are read. "pixels": pixels of the image the model
    saw (UI-TARS-1.5, Qwen2.5-VL); "normalized": 0-1000 on both axes (UI-TARS 1.0, Qwen2-VL, Qwen3-VL);
    "auto": pixels when every value of the action fits the image, 0-1000 when one does not but all are
    at most 1000, else the point is off the image. Tool calls are pixels, as COMPUTER_TOOL says, unless
    "normalized". Replies over MAX_REPLY_CHARS are refused unread; `Rejected.raw` keeps RAW_LIMIT chars.
    """
    if grammar not in GRAMMARS:
        raise ValueError(f"grammar {grammar!r} is unknown; use one of {', '.join(GRAMMARS)}")
    try:
        draft, convention = _draft(calls, text, grammar)
        return to_action(draft, frame, convention)
    except ValueError as e:
        return Rejected(_raw(calls, text), str(e))


def _draft(calls: Sequence[ToolCall | MalformedToolCall], text: str, grammar: str) -> tuple[Draft, str]:
    if len(text) > MAX_REPLY_CHARS:
        raise ValueError(f"the reply is {len(text)} characters long; more than {MAX_REPLY_CHARS} is not read")
    for c in calls:
        if not isinstance(c, ToolCall | MalformedToolCall):
            raise TypeError(f"parse_reply takes ToolCall and MalformedToolCall events, not {type(c).__name__}")
    in_tools = "normalized" if grammar == "normalized" else "pixels"
    if any(isinstance(c, MalformedToolCall) for c in calls):
        raise ValueError("the tool call was malformed: not a tool name with a JSON object of arguments")
    bodies = _blocks(text)
    actions = len(calls) + len(bodies) + has_action_line(text)
    if actions > 1:
        raise ValueError(f"one action per step; the model sent {actions}")
    if calls:
        call = calls[0]
        assert isinstance(call, ToolCall)
        return _from_call(call.name, call.arguments, clean_note(text, NOTE_LIMIT)), in_tools
    if bodies:
        name, arguments = _json_call(bodies[0])
        outside = text[: text.find(OPEN)] + text[text.find(CLOSE) + len(CLOSE) :]
        return _from_call(name, arguments, clean_note(outside, NOTE_LIMIT)), in_tools
    draft = parse_action_text(text)
    if draft is None:
        said = f"no tool call and no Action: line in {text[:200]!r}" if text.strip() else "it is empty"
        raise ValueError(f"the reply holds no action: {said}")
    return draft, grammar


def _blocks(text: str) -> list[str]:
    """The bodies of the `<tool_call>…</tool_call>` blocks in `text`."""
    bodies, pos = [], text.find(OPEN)
    while pos >= 0:
        end = text.find(CLOSE, pos + len(OPEN))
        if end < 0:
            raise ValueError("the tool call was malformed: a <tool_call> block in the text is not closed")
        bodies.append(text[pos + len(OPEN) : end])
        pos = text.find(OPEN, end + len(CLOSE))
    return bodies


def _json_call(body: str) -> tuple[str, object]:
    try:
        call = json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("the tool call was malformed: the <tool_call> block is not JSON") from None
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        raise ValueError('the tool call was malformed: the <tool_call> block is not {"name": …, "arguments": {…}}')
    return call["name"], call.get("arguments", {})


def _from_call(name: str, arguments: object, note: str) -> Draft:
    if name not in TOOL_NAMES:
        raise ValueError(f"the model called a tool named {_shown(name)}; the agent offers only {TOOL_NAME!r}")
    if not isinstance(arguments, dict):
        raise ValueError("the tool call's arguments are not a JSON object")
    action = arguments.get("action")
    if not isinstance(action, str):
        raise ValueError(f"the tool call names no action: 'action' must be a string, not {_shown(action)}")
    if action not in CALL_ACTIONS:
        raise ValueError(f"action {_shown(action)} is unknown; use one of {', '.join(TOOL_KINDS)}")
    kind, allowed = CALL_ACTIONS[action]
    args = {k: _decode(k, v) for k, v in arguments.items() if k != "action"}
    unknown = sorted(_shown(k) for k in args if k not in ARGUMENTS)
    if unknown:
        raise ValueError(f"unknown argument {', '.join(unknown)} in the {action} call")
    extra = sorted(set(args) - allowed)
    if extra:
        raise ValueError(f"the {action} action takes no {', '.join(extra)}")
    return _BUILDERS[kind](action, args, note)


def _decode(key: object, value: object) -> object:
    if not (isinstance(value, str) and key in _JSON_VALUED):
        return value
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return value


def _pointed(kind: str) -> Callable[[str, dict, str], Draft]:
    return lambda action, args, note: Draft(kind, (_point(args, "coordinate", action),), note=note)


def _drag(action: str, args: dict, note: str) -> Draft:
    if "start_coordinate" in args and "end_coordinate" in args:
        raise ValueError(
            "a drag gives coordinate and end_coordinate, or start_coordinate and coordinate, not all three"
        )
    start, end = ("start_coordinate", "coordinate") if "start_coordinate" in args else ("coordinate", "end_coordinate")
    if start not in args or end not in args:
        raise ValueError(
            f"a drag needs both ends, {start} and {end}: a drag from wherever the cursor is cannot be checked"
        )
    seconds = number(args["seconds"], "seconds") if "seconds" in args else 0.0
    return Draft("drag", (_point(args, start, action), _point(args, end, action)), seconds=seconds, note=note)


def _scroll(action: str, args: dict, note: str) -> Draft:
    point = (_point(args, "coordinate", action),)
    if "pixels" in args:
        if "amount" in args or "direction" in args:
            raise ValueError("a scroll gives amount and direction, or pixels, not both")
        return Draft("scroll", point, amount=-whole(args["pixels"], "pixels"), note=note)
    if "amount" not in args or "direction" not in args:
        raise ValueError("a scroll needs amount (wheel clicks) and direction (up, down, left or right)")
    direction, amount = args["direction"], whole(args["amount"], "amount")
    if direction not in DIRECTIONS:
        raise ValueError(f"the scroll direction must be one of {', '.join(DIRECTIONS)}, not {_shown(direction)}")
    if amount <= 0:
        raise ValueError(f"the scroll amount counts wheel clicks and must be positive, not {amount}")
    sign = -1 if direction in ("up", "left") else 1
    return Draft("scroll", point, amount=sign * amount, horizontal=direction in ("left", "right"), note=note)


def _type(action: str, args: dict, note: str) -> Draft:
    if "text" not in args:
        raise ValueError("a type action needs text")
    return Draft("type", text=_text(args, "text", "the typed text"), note=note)


def _key(action: str, args: dict, note: str) -> Draft:
    names = args.get("keys")
    if not isinstance(names, list) or not all(isinstance(k, str) for k in names):
        raise ValueError(f'keys must be a list of key names such as ["ctrl", "c"], not {_shown(names)}')
    if not 0 < len(names) <= MAX_KEYS:
        raise ValueError(f"keys names 1 to {MAX_KEYS} keys, not {len(names)}")
    keys = normalise_keys(names)
    return Draft("key" if len(keys) == 1 else "hotkey", keys=keys, note=note)


def _wait(action: str, args: dict, note: str) -> Draft:
    if "seconds" in args and "time" in args:
        raise ValueError("a wait gives seconds or time, not both")
    given = [args[k] for k in ("seconds", "time") if k in args]
    return Draft("wait", seconds=number(given[0], "seconds") if given else DEFAULT_WAIT_SECONDS, note=note)


def _end(kind: str) -> Callable[[str, dict, str], Draft]:
    return lambda action, args, note: Draft(kind, text=_text(args, "text", f"the {kind} text"), note=note)


def _terminate(action: str, args: dict, note: str) -> Draft:
    status = args.get("status")
    if not isinstance(status, str) or status not in TERMINATE:
        raise ValueError(f"terminate needs status 'success' or 'failure', not {_shown(status)}")
    return Draft(TERMINATE[status], text=_text(args, "text", "the terminate text"), note=note)


def _point(args: dict, key: str, action: str) -> tuple[float, float]:
    if key not in args:
        raise ValueError(f"a {action} action needs {key} [x, y]")
    v = args[key]
    if not isinstance(v, list | tuple) or len(v) != 2:
        raise ValueError(f"{key} must be [x, y], not {_shown(v)}")
    return number(v[0], f"{key}'s x"), number(v[1], f"{key}'s y")


def _text(args: dict, key: str, what: str) -> str:
    value = args.get(key, "")
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, not {_shown(value)}")
    return check_text(value, what)


_BUILDERS: dict[str, Callable[[str, dict, str], Draft]] = {
    **{k: _pointed(k) for k in ("click", "double_click", "right_click", "move", "zoom")},
    "drag": _drag, "scroll": _scroll, "type": _type, "key": _key, "wait": _wait,
    "screenshot": lambda action, args, note: Draft("screenshot", note=note),
    "done": _end("done"), "fail": _end("fail"), "terminate": _terminate,
}  # fmt: skip


def _raw(calls: Sequence[ToolCall | MalformedToolCall], text: str) -> str:
    """The reply as it came, tool calls after the text, cut at RAW_LIMIT characters."""
    parts = [text[: RAW_LIMIT + 1]] if text else []
    for c in calls:
        if isinstance(c, MalformedToolCall):
            parts.append(c.raw[: RAW_LIMIT + 1])
        elif isinstance(c, ToolCall):
            parts.append(f"{str(c.name)[:100]}({_arguments(c.arguments)})")
    raw = "\n".join(parts)
    return raw if len(raw) <= RAW_LIMIT else raw[: RAW_LIMIT - 1] + "…"


def _arguments(arguments: object) -> str:
    try:
        return json.dumps(arguments, ensure_ascii=False, default=repr)[: RAW_LIMIT + 1]
    except (ValueError, TypeError, RecursionError):
        return "(arguments that cannot be shown)"


def _shown(value: object) -> str:
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:60] + "…")
    return type(value).__name__ if isinstance(value, list | dict | tuple) else _short(value)


def _short(value: object) -> str:
    try:
        text = repr(value)
    except ValueError:
        return f"a {type(value).__name__} too large to show"
    return text if len(text) <= 60 else text[:60] + "…"
