"""Citations of PDF pages and video timestamps in a reply, turned into links (pure, no Qt).

The model cites as people do: "page 3", "pages 3", "p. 3", "[p. 3]", "at 1:23", "[1:23]" or
"at 1:02:03". Each becomes a Markdown link to `cite:page/3` or `cite:time/83` (seconds), which
the chat view opens in the page or frame viewer. Fenced and inline code are left alone, as are
existing links.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PAGE = re.compile(r"\[p(?:age|\.)?\s*(\d{1,5})\]|\b(?:[Pp]ages?|p\.)\s*(\d{1,5})\b")
TIME = re.compile(r"\[(\d{1,2}(?::\d{2}){1,2})\]|\b(?:[Aa]t|@)\s+(\d{1,2}(?::\d{2}){1,2})\b")
CODE = re.compile(r"(```.*?(?:```|$)|`[^`\n]*`|\[[^\]\n]*\]\([^)\n]*\))", re.S)


@dataclass(frozen=True)
class Citation:
    kind: str  # "page" or "time"
    value: int  # 1-based page, or seconds


def seconds(stamp: str) -> int:
    total = 0
    for piece in stamp.split(":"):
        total = total * 60 + int(piece)
    return total


def _link(match: re.Match, kind: str) -> str:
    raw = match.group(1) or match.group(2)
    value = int(raw) if kind == "page" else seconds(raw)
    label = match.group(0).replace("[", "").replace("]", "")
    return f"[{label}](cite:{kind}/{value})"


def _linkify_plain(text: str) -> str:
    text = PAGE.sub(lambda m: _link(m, "page"), text)
    return TIME.sub(lambda m: _link(m, "time"), text)


def linkify(markdown: str) -> str:
    """`markdown` with every citation outside code and links made into a `cite:` link."""
    pieces = CODE.split(markdown)
    return "".join(p if i % 2 else _linkify_plain(p) for i, p in enumerate(pieces))


def parse_link(url: str) -> Citation | None:
    """The citation a `cite:` link points at, or None for any other link."""
    m = re.fullmatch(r"cite:(page|time)/(\d+)", url)
    return Citation(m.group(1), int(m.group(2))) if m else None
