"""Markdown to the HTML subset QTextDocument shows, with code highlighted by Pygments.

markdown-it-py (MIT) parses CommonMark with tables; raw HTML in model output is escaped, not
rendered, because replies are untrusted text. Fenced code is coloured by Pygments with inline
styles (QTextDocument ignores style sheets with classes). Citations become `cite:` links first
(`app/citations.py`).
"""

from __future__ import annotations

import html

from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name, guess_lexer
from pygments.util import ClassNotFound

from app.citations import linkify

_FORMATTER = HtmlFormatter(noclasses=True, nowrap=True, style="friendly")
CODE_STYLE = "background:#f4f4f6; font-family:monospace; padding:6px; white-space:pre-wrap;"


def _lexer(code: str, lang: str):
    try:
        return get_lexer_by_name(lang) if lang else guess_lexer(code)
    except ClassNotFound:
        return TextLexer()


def highlight_code(code: str, lang: str, _attrs: str = "") -> str:
    body = highlight(code, _lexer(code, lang.strip().split(" ")[0]), _FORMATTER)
    return f'<pre style="{CODE_STYLE}">{body}</pre>'


_MD = MarkdownIt("commonmark", {"html": False, "highlight": highlight_code, "breaks": True}).enable("table")


def render_markdown(text: str) -> str:
    """HTML for `text`; never raises on odd Markdown (markdown-it accepts any input)."""
    return _MD.render(linkify(text))


def escape(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")
