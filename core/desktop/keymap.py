"""Makes pyautogui type each ASCII character as itself on X11, whatever key the layout puts it on.

pyautogui's X11 layer presses the first keycode bound to a character's keysym and adds shift when
the character is shifted on a US keyboard. Where the server's layout disagrees, it types another
character: on the default pc105 map `<` sits unshifted on the extra key, so `<` came out as `>`
(`a < b` typed as `a > b` is a truncated file in a shell). `align_pyautogui` rewrites pyautogui's
table so each printable character maps to the keycode that yields it at the shift level pyautogui
will use, and to None where the layout has no such key (pyautogui then calls it invalid and the
executor refuses it by name). It reads the core keyboard map, i.e. the first XKB group (layout).
"""

from __future__ import annotations

import string
from typing import Any

PRINTABLE = [c for c in string.printable if c.isprintable()]  # space to tilde; keysym == code point


def align_pyautogui(gui: Any) -> None:
    """Point pyautogui's keyboardMapping for printable ASCII at the server's current keycodes."""
    import Xlib.display

    display = Xlib.display.Display()
    try:
        found = _levels(display)
    finally:
        display.close()
    mapping = gui.platformModule.keyboardMapping
    for char in PRINTABLE:
        mapping[char] = found.get((ord(char), 1 if gui.isShiftCharacter(char) else 0))


def _levels(display: Any) -> dict[tuple[int, int], int]:
    """(keysym, shift level 0 or 1) -> the lowest keycode that produces it."""
    first = display.display.info.min_keycode
    rows = display.get_keyboard_mapping(first, display.display.info.max_keycode - first + 1)
    found: dict[tuple[int, int], int] = {}
    for offset, syms in enumerate(rows):
        plain, shifted = (list(syms) + [0, 0])[:2]
        if not shifted and ord("a") <= plain <= ord("z"):
            shifted = plain - 0x20  # core protocol: a lone lower-case letter shifts to its capital
        for level, sym in ((0, plain), (1, shifted)):
            if sym:
                found.setdefault((sym, level), first + offset)
    return found
