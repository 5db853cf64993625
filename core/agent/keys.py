"""Key names and typed text from model output, checked before they can become an Action.

Keys are normalised to pyautogui's lower-case names (`ctrl`, `alt`, `shift`, `win`, `enter`, `esc`,
`f1`…`f24`, one printable ASCII character); the aliases models use (Return, Escape, Control,
Meta, Super, Cmd, PageDown, ArrowUp, …) map onto them and anything else is refused, never guessed.
One name may hold a whole chord, "ctrl+c" or "ctrl c". Typed text may hold newlines and tabs
(a carriage return becomes a newline) but no other control character, no lone surrogate and no
bidirectional override: those would type something other than what the user is shown.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Sequence

from core.desktop.actions import MAX_TEXT

NAMED = (
    "ctrl", "alt", "shift", "win", "enter", "esc", "tab", "backspace", "delete", "insert", "space",
    "up", "down", "left", "right", "home", "end", "pageup", "pagedown", "capslock", "printscreen",
    *(f"f{n}" for n in range(1, 25)),
)  # fmt: skip
CHARACTERS = tuple(c for c in string.printable if not c.isspace() and not c.isupper())
KEY_NAMES = frozenset(NAMED) | frozenset(CHARACTERS)
ALIASES = {
    "control": "ctrl", "ctl": "ctrl", "option": "alt", "opt": "alt",
    "meta": "win", "super": "win", "cmd": "win", "command": "win", "windows": "win", "os": "win",
    "return": "enter", "escape": "esc", "del": "delete", "ins": "insert", "bksp": "backspace",
    "spacebar": "space", "pgup": "pageup", "pgdn": "pagedown", "prior": "pageup", "next": "pagedown",
    "arrowup": "up", "arrowdown": "down", "arrowleft": "left", "arrowright": "right",
    "uparrow": "up", "downarrow": "down", "leftarrow": "left", "rightarrow": "right",
    "caps": "capslock", "prtsc": "printscreen", "prtscr": "printscreen", "print": "printscreen",
    "plus": "+", "minus": "-",
}  # fmt: skip
MAX_KEY_NAME = 24
_SEPARATORS = re.compile(r"[\s+]+")
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def split_chord(name: str) -> list[str]:
    """The key names in one string: "ctrl+c" and "ctrl c" are two, "+" and "ctrl++" end in "+"."""
    if name == " ":
        return ["space"]
    s = name.strip()
    if len(s) <= 1:
        return [s]
    plus_key = s.endswith(("++", " +"))
    parts = _SEPARATORS.split(s[:-2].rstrip() if plus_key else s)
    if "" in parts:
        raise ValueError(f"the chord {_shown(name)} has an empty key name")
    return parts + (["+"] if plus_key else [])


def normalise_key(name: str) -> str:
    """pyautogui's name for one key; ValueError naming the key when there is none."""
    if len(name) == 1:
        key = name.lower()
    else:
        key = name.lower().replace("_", "").replace("-", "")
        key = ALIASES.get(key, key)
    if key not in KEY_NAMES:
        raise ValueError(
            f"key {_shown(name)} is not a key name (use names such as ctrl, alt, shift, enter, esc, f5, a)"
        )
    return key


def normalise_keys(names: Sequence[str]) -> tuple[str, ...]:
    """One chord from key names, each of which may itself be a chord ("ctrl+c")."""
    keys = tuple(normalise_key(k) for name in names for k in split_chord(name))
    if not keys:
        raise ValueError("no key was named")
    if len(set(keys)) != len(keys):
        raise ValueError(f"the chord {'+'.join(keys)} names a key twice")
    return keys


def check_text(text: str, what: str) -> str:
    """`text` with carriage returns made newlines; ValueError when it is over MAX_TEXT characters or
    holds a character that cannot be typed."""
    if len(text) > MAX_TEXT:
        raise ValueError(f"{what} is {len(text)} characters long; at most {MAX_TEXT} are allowed")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for i, c in enumerate(text):
        if c in "\n\t":
            continue
        if unicodedata.category(c) in ("Cc", "Cs") or c in _BIDI:
            raise ValueError(
                f"{what} holds the control character U+{ord(c):04X} at position {i}; "
                "only printable text, newlines and tabs are allowed"
            )
    return text


def clean_note(text: str, limit: int) -> str:
    """The model's own words made safe to show: control characters replaced, length capped."""
    text = text.strip().replace("\r\n", "\n")
    cleaned = "".join(
        "\ufffd" if c not in "\n\t" and (unicodedata.category(c) in ("Cc", "Cs") or c in _BIDI) else c
        for c in text[: limit + 1]
    )
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def _shown(name: str) -> str:
    return repr(name if len(name) <= MAX_KEY_NAME else name[:MAX_KEY_NAME] + "…")
