"""The computer-use policy of SAFETY.md as pure functions: one action and what is known of the screen
in, a `Verdict` out. No screens, threads or models here, so every rule is tested exhaustively.

Order of the rules: the task's end always runs; past the step cap nothing runs; an action predicted
on a screenshot the screen no longer shows is re-planned; points off every monitor (the gaps of a
layout of unequal monitors included) or on our own window are refused; then the tier: observe runs,
act needs the user's consent (per action, or for the rest of the task), dangerous asks every time
and says why. `resolve` turns an "ask" into run or deny given what the user said; when no one can
be asked, the answer is no.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.agent.steps import Verdict
from core.desktop.actions import END, OBSERVE, Action, Point

Rect = tuple[float, float, float, float]  # left, top, width, height in screen coordinates

TERMINALS = re.compile(
    r"terminal|xterm|urxvt|rxvt|konsole|terminator|alacritty|kitty|tilix|wezterm|foot|guake|yakuake|"
    r"\bst\b|iterm|powershell|pwsh|cmd\.exe|command prompt|windows terminal|conhost|"
    r"\brun\b|krunner|run a command|gnome-shell|xfce4-appfinder|rofi|dmenu|ulauncher|"
    r"\bbash\b|\bzsh\b|\bfish\b|\bsh\b|ssh\b",
    re.IGNORECASE,
)
SHELL_WORDS = (
    r"sudo|su|rm|rmdir|del|erase|rd|format|mkfs|dd|chmod|chown|chattr|curl|wget|bash|sh|zsh|"
    r"python\d?|perl|ruby|node|powershell|pwsh|cmd|iex|invoke-expression|invoke-webrequest|"
    r"reg|regedit|schtasks|crontab|systemctl|shutdown|reboot|kill|pkill|killall|mv|cp|ssh|scp|nc|ncat|"
    r"eval|exec|start-process|remove-item|set-executionpolicy|apt|apt-get|yum|dnf|pip|npm|git"
)
SHELL_COMMAND = re.compile(
    rf"(^|[\n;&|`(]|\$\()\s*({SHELL_WORDS})(\s|$)"  # a command word at the start of a line or after ; & | ` $(
    r"|\|\s*(sh|bash|zsh|iex|python\d?)\b"  # piping into a shell
    r"|`[^`]+`|\$\([^)]*\)"  # command substitution
    r"|&&|\|\||>\s*/dev/|>>?\s*[~/]"  # chaining, redirection to files
    r"|\b(cmd|powershell)(\.exe)?\s+/[ck]\b|-encodedcommand\b",
    re.IGNORECASE,
)
DELETE_KEYS = {("delete",), ("shift", "delete"), ("win", "backspace"), ("cmd", "backspace"), ("command", "backspace")}
SYSTEM_KEYS = {"win", "super", "cmd", "command", "meta", "winleft", "winright"}
SYSTEM_CHORDS = {
    frozenset({"alt", "f2"}),  # run dialog
    frozenset({"alt", "f1"}),
    frozenset({"alt", "f4"}),  # close the focused window
    frozenset({"ctrl", "shift", "esc"}),  # task manager
    frozenset({"ctrl", "esc"}),  # start menu
    frozenset({"alt", "sysrq"}),
}
SCREEN_ASKED = re.compile(
    r"\b(the|this|a|an)\s+(screen|page|window|dialog|pop-?up|message|banner|notice|prompt|site|website|"
    r"email|document|text|label|note|sign)\s+(says|said|asks|asked|tells|told|instructs|instructed|wants|"
    r"requests|requested|requires|directs|demands)\b"
    r"|\b(as|like)\s+(instructed|requested|asked|told)\s+(on|by|in)\s+(the\s+)?(screen|page|window|dialog|banner)"
    r"|\b(follow(ing)?|obey(ing)?)\s+(the\s+)?(on-?screen|displayed|shown)\s+(instruction|text|request)"
    r"|\bon-?screen\s+(instruction|request|text)s?\s+(say|ask|tell)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Situation:
    """What the policy knows at one step."""

    task: str
    latest_screenshot: str  # the id of the screenshot the screen shows now
    monitors: tuple[Rect, ...]  # every monitor's rectangle
    own_windows: tuple[Rect, ...] = ()  # our windows: never a target
    focused_title: str = ""  # the focused window's title and application class, when known
    focused_app: str = ""
    steps_taken: int = 0  # steps already run before this one
    max_steps: int = 30
    screen_asked: str = ""  # non-empty once on-screen text asked the agent for something: the evidence


def judge(action: Action, s: Situation) -> Verdict:
    """The verdict for `action` (points in screen space) in situation `s`."""
    if action.kind in END:
        return Verdict("run", "observe")
    if s.steps_taken >= s.max_steps:
        return Verdict("refuse", action.tier, (f"the task reached its cap of {s.max_steps} steps",))
    if action.screenshot_id != s.latest_screenshot:
        return Verdict("replan", action.tier, ("the screen changed after the model saw it",))
    for point in (action.point, action.end):
        if point is None:
            continue
        if point.space != "screen":
            raise ValueError(f"the policy judges points in screen space, not {point.space!r}")
        if not any(inside(point, m) for m in s.monitors):
            return Verdict("refuse", action.tier, (f"({point.x:g}, {point.y:g}) is outside every screen",))
        if action.kind not in OBSERVE and any(inside(point, w) for w in s.own_windows):
            return Verdict("refuse", action.tier, ("Spyglass's own window is never a target",))
    if action.kind in OBSERVE:
        return Verdict("run", "observe")
    reasons = dangers(action, s)
    return Verdict("ask", "dangerous" if reasons else "act", reasons)


def resolve(verdict: Verdict, *, allowed_for_task: bool, answer: str | None) -> str:
    """What happens to an action: "run", "deny", "refuse" or "replan". `answer` is the user's
    reply to an ask (one of steps.ANSWERS), None when no one could be asked (fail closed)."""
    if verdict.decision != "ask":
        return verdict.decision
    if verdict.tier == "act" and allowed_for_task:
        return "run"
    return "run" if answer in ("once", "task") else "deny"


def needs_asking(verdict: Verdict, *, allowed_for_task: bool) -> bool:
    """Whether the user must be asked: dangerous always, act unless allowed for the task."""
    return verdict.decision == "ask" and (verdict.tier == "dangerous" or not allowed_for_task)


def dangers(action: Action, s: Situation) -> tuple[str, ...]:
    """Why `action` is dangerous, one plain sentence each; empty when it is only an act."""
    found = []
    typing = action.kind in ("type", "key", "hotkey")
    focused = f"{s.focused_title} {s.focused_app}".strip()
    if typing and focused and TERMINALS.search(focused):
        found.append(f"it types into what looks like a terminal or run dialog ({focused[:80]})")
    if action.kind == "type" and SHELL_COMMAND.search(action.text):
        found.append(f"the text looks like a shell command: {action.text[:80]!r}")
    keys = tuple(k.lower() for k in action.keys)
    if action.kind in ("key", "hotkey"):
        chord = frozenset(keys)
        if keys in DELETE_KEYS:
            found.append(f"{'+'.join(keys)} deletes")
        if chord & SYSTEM_KEYS or {"ctrl", "alt"} <= chord or chord in SYSTEM_CHORDS:
            found.append(f"{'+'.join(keys)} is a system key chord")
    if s.screen_asked:
        found.append(f"on-screen text asked the agent to act, not the user: {s.screen_asked[:120]!r}")
    return tuple(found)


def screen_request(note: str) -> str:
    """Evidence, from the model's own words, that it follows text on the screen rather than the user:
    the matching phrase, or ''."""
    found = SCREEN_ASKED.search(note)
    return found.group(0) if found else ""


def inside(point: Point, rect: Rect) -> bool:
    left, top, width, height = rect
    return left <= point.x < left + width and top <= point.y < top + height
