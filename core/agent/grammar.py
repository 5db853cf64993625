"""The GUI-grounded text grammar of UI-TARS and Qwen-VL agents: `Thought: …` then `Action: name(k='v')`.

The call is read by a small tokenizer (identifiers, quoted strings with \\' \\" \\n \\t \\\\ escapes,
commas, parentheses), never evaluated: anything else, a positional argument, an unquoted value or
text after the call, is refused. Exactly one `Action:` line and one call in it. A location is a
point `(x,y)` or a box `(x1,y1,x2,y2)` (its centre), optionally wrapped in `<|box_start|>…<|box_end|>`,
`<point>x y</point>` or `<bbox>…</bbox>`; which numbers those are (pixels or 0–1000) is decided
later, by `core.agent.draft`. `scroll` moves GRAMMAR_SCROLL_CLICKS wheel clicks, `wait()` waits
DEFAULT_WAIT_SECONDS, `call_user()` is a `fail`: the model asks for the user.
"""

from __future__ import annotations

import re

from core.agent.draft import Draft
from core.agent.keys import check_text, clean_note, normalise_keys
from core.agent.tool import DEFAULT_WAIT_SECONDS, DIRECTIONS

MARKER = "Action:"
GRAMMAR_SCROLL_CLICKS = 5
NOTE_LIMIT = 2000
CALL_USER = "the model asks for the user"
GRAMMAR_ACTIONS = {
    "click": "click", "left_single": "click", "left_double": "double_click", "right_single": "right_click",
    "hover": "move", "mouse_move": "move", "drag": "drag", "select": "drag",
    "hotkey": "key", "press": "key", "key": "key", "type": "type", "scroll": "scroll",
    "wait": "wait", "finished": "done", "call_user": "fail",
}  # fmt: skip
POINT_ARGS = ("start_box", "point", "start_point")
END_ARGS = ("end_box", "end_point")
_ALLOWED = {
    "click": set(POINT_ARGS), "double_click": set(POINT_ARGS), "right_click": set(POINT_ARGS),
    "move": set(POINT_ARGS), "drag": set(POINT_ARGS + END_ARGS), "key": {"key"}, "type": {"content"},
    "scroll": set(POINT_ARGS) | {"direction"}, "wait": set(), "done": {"content"}, "fail": set(),
}  # fmt: skip
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_NUMBER = re.compile(r"-?\d{1,9}(?:\.\d{1,9})?")
_NUMBER_SEP = re.compile(r"\s*,\s*|\s+")
_ESCAPES = {"n": "\n", "t": "\t", "'": "'", '"': '"', "\\": "\\"}
_MAX_LOCATION = 200
_BRACKETS = str.maketrans("()[]", "    ")


def parse_action_text(text: str) -> Draft | None:
    """The step in `text`'s `Action:` line; None when there is none, ValueError when it is malformed."""
    lines = text.split("\n")
    at = [i for i, line in enumerate(lines) if line.lstrip().startswith(MARKER)]
    if not at:
        return None
    if len(at) > 1:
        raise ValueError(f"one action per step; the model sent {len(at)} Action: lines")
    head = "\n".join(lines[: at[0]]).strip()
    head = head[len("Thought:") :] if head.startswith("Thought:") else head
    source = "\n".join([lines[at[0]].lstrip()[len(MARKER) :], *lines[at[0] + 1 :]]).strip().strip("`").strip()
    name, args = read_call(source)
    return draft_of(name, args, clean_note(head, NOTE_LIMIT))


def has_action_line(text: str) -> bool:
    """Whether some line of `text` starts with `Action:`."""
    return any(line.lstrip().startswith(MARKER) for line in text.split("\n"))


def read_call(source: str) -> tuple[str, dict[str, str]]:
    """`name(key='value', …)` as its name and arguments; ValueError for anything else."""
    m = _IDENT.match(source)
    if not m:
        raise ValueError(f"the Action line holds no call: {_shown(source)}")
    name, pos = m.group(), _skip(source, m.end())
    if not source.startswith("(", pos):
        raise ValueError(f"the action {_shown(name)} is not followed by '('")
    args: dict[str, str] = {}
    pos = _skip(source, pos + 1)
    while not source.startswith(")", pos):
        key, value, pos = _argument(source, pos)
        if key in args:
            raise ValueError(f"{name}() names the argument {key!r} twice")
        args[key] = value
        pos = _skip(source, pos)
        if source.startswith(",", pos):
            pos = _skip(source, pos + 1)
        elif not source.startswith(")", pos):
            raise ValueError(f"{name}() expects ',' or ')' after {key}=, not {_shown(source[pos:])}")
    rest = source[pos + 1 :].strip()
    if rest:
        raise ValueError(f"one action per step; after {name}(…) the reply goes on: {_shown(rest)}")
    return name, args


def draft_of(name: str, args: dict[str, str], note: str) -> Draft:
    """The Draft for one grammar call."""
    kind = GRAMMAR_ACTIONS.get(name)
    if kind is None:
        raise ValueError(f"action {_shown(name)} is unknown; the grammar has {', '.join(GRAMMAR_ACTIONS)}")
    extra = sorted(set(args) - _ALLOWED[kind])
    if extra:
        raise ValueError(f"{name}() takes no {', '.join(extra)} argument")
    if kind == "drag":
        return Draft(kind, (_location(args, POINT_ARGS, name), _location(args, END_ARGS, name)), note=note)
    if kind == "scroll":
        direction = args.get("direction", "")
        if direction not in DIRECTIONS:
            raise ValueError(f"scroll() needs direction= one of {', '.join(DIRECTIONS)}, not {_shown(direction)}")
        amount = GRAMMAR_SCROLL_CLICKS * (-1 if direction in ("up", "left") else 1)
        point = _location(args, POINT_ARGS, name)
        return Draft(kind, (point,), amount=amount, horizontal=direction in ("left", "right"), note=note)
    if kind in ("click", "double_click", "right_click", "move"):
        return Draft(kind, (_location(args, POINT_ARGS, name),), note=note)
    if kind == "key":
        if "key" not in args:
            raise ValueError(f"{name}() needs key=")
        keys = normalise_keys([args["key"]])
        return Draft("key" if len(keys) == 1 else "hotkey", keys=keys, note=note)
    if kind == "type":
        return Draft(kind, text=check_text(args.get("content", ""), "the typed text"), note=note)
    if kind == "done":
        return Draft(kind, text=check_text(args.get("content", ""), "the summary"), note=note)
    if kind == "wait":
        return Draft(kind, seconds=DEFAULT_WAIT_SECONDS, note=note)
    return Draft(kind, text=CALL_USER, note=note)


def location(value: str, what: str) -> tuple[float, float]:
    """A point or the centre of a box, in the reply's own numbers."""
    s = value.strip().replace("<|box_start|>", "").replace("<|box_end|>", "").strip()
    for tag in ("point", "bbox"):
        if s.startswith(f"<{tag}>") and s.endswith(f"</{tag}>"):
            s = s[len(tag) + 2 : -len(tag) - 3].strip()
    s = s.translate(_BRACKETS).strip()
    parts = _NUMBER_SEP.split(s) if len(s) <= _MAX_LOCATION else []
    if len(parts) not in (2, 4) or not all(_NUMBER.fullmatch(p) for p in parts):
        raise ValueError(f"{what}={_shown(value)} is not a point '(x,y)' or a box '(x1,y1,x2,y2)'")
    v = [float(p) for p in parts]
    if len(v) == 2:
        return v[0], v[1]
    if v[2] < v[0] or v[3] < v[1]:
        raise ValueError(f"{what}={_shown(value)} is a box whose corners are reversed")
    return (v[0] + v[2]) / 2, (v[1] + v[3]) / 2


def _location(args: dict[str, str], names: tuple[str, ...], action: str) -> tuple[float, float]:
    given = [n for n in names if n in args]
    if len(given) != 1:
        how = "needs" if not given else "takes only one of"
        raise ValueError(f"{action}() {how} {' or '.join(n + '=' for n in names)}")
    return location(args[given[0]], given[0])


def _argument(source: str, pos: int) -> tuple[str, str, int]:
    m = _IDENT.match(source, pos)
    if not m:
        raise ValueError(f"expected a named argument (name='value'), not {_shown(source[pos:])}")
    at = _skip(source, m.end())
    if not source.startswith("=", at):
        raise ValueError(f"the argument {m.group()!r} has no '=' and value")
    at = _skip(source, at + 1)
    if source[at : at + 1] not in ("'", '"'):
        raise ValueError(f"the value of {m.group()} must be a quoted string, not {_shown(source[at:])}")
    value, end = _string(source, at)
    return m.group(), value, end


def _string(source: str, pos: int) -> tuple[str, int]:
    """The quoted string starting at `pos` and the index after its closing quote."""
    quote, out, i = source[pos], [], pos + 1
    while i < len(source):
        c = source[i]
        if c == "\\" and i + 1 < len(source):
            out.append(_ESCAPES.get(source[i + 1], c + source[i + 1]))
            i += 2
        elif c == quote:
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1
    raise ValueError("a quoted value in the Action line is not closed")


def _skip(source: str, pos: int) -> int:
    while pos < len(source) and source[pos] in " \t\r\n":
        pos += 1
    return pos


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:60] + "…")
