"""The conversation as a document: Markdown replies, folded reasoning, inline thumbnails, links.

A QTextBrowser shows one HTML block per message. While a reply streams only the last block is
replaced (a cursor from where it starts to the end), and at most every 60 ms, so a long
conversation costs the same per batch as a short one. Thumbnails are served by `loadResource`
from memory under `thumb:` URLs. Links: `fold:N` opens or closes message N's reasoning;
`cite:page/3` and `cite:time/83` ask for a viewer (`sig_citation`); `attach:N/i` opens an
attachment (`sig_open_attachment`).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from PySide6.QtCore import QTimer, QUrl, Signal
from PySide6.QtGui import QTextCursor, QTextDocument
from PySide6.QtWidgets import QTextBrowser, QWidget

from core.history import AttachmentRecord

from app.citations import Citation, parse_link
from app.images import from_png
from app.markdown_render import escape, render_markdown

RENDER_INTERVAL_MS = 60
STATUS_NOTES = {"cancelled": "stopped", "interrupted": "interrupted (the app closed while it streamed)",
                "length": "cut at the reply length limit"}


@dataclass
class ViewMessage:
    role: str
    text: str = ""
    reasoning: str = ""
    status: str = "done"
    error: str | None = None
    attachments: tuple[AttachmentRecord, ...] = ()
    notes: list[str] = field(default_factory=list)


def caption(a: AttachmentRecord) -> str:
    name = a.path.replace("\\", "/").rsplit("/", 1)[-1] if a.path else a.kind
    return a.summary if name in a.summary else f"{name} · {a.summary}"


class ChatView(QTextBrowser):
    sig_citation = Signal(object)
    """Citation: the user clicked a page or timestamp cited in a reply."""
    sig_open_attachment = Signal(object)
    """AttachmentRecord: the user clicked an attachment's thumbnail."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setReadOnly(True)
        self.anchorClicked.connect(self._clicked)
        self.messages: list[ViewMessage] = []
        self._expanded: set[int] = set()
        self._thumbs: dict[str, bytes] = {}
        self._tail_start = 0
        self._notice = ""
        self._render_timer = QTimer(self, singleShot=True, interval=RENDER_INTERVAL_MS)
        self._render_timer.timeout.connect(self._render_tail)
        self.document().setDefaultStyleSheet("a { color: #2563eb; } p { margin: 4px 0; }")

    # whole conversation
    def set_messages(self, messages: list[ViewMessage], notice: str = "") -> None:
        self.messages, self._expanded = list(messages), set()
        self._notice = notice
        self.render_all()

    def render_all(self) -> None:
        self._render_timer.stop()
        head = [self._block(i, m) for i, m in enumerate(self.messages[:-1])]
        if not self.messages:
            self.setHtml(self._notice)
            return
        self.setHtml("".join(head))
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if head:
            cursor.insertBlock()  # the reply gets its own block, not the end of the last paragraph
        self._tail_start = cursor.position()
        self._render_tail()

    # streaming
    def append_message(self, message: ViewMessage) -> None:
        self.messages.append(message)
        self.render_all()

    def stream(self, text: str, reasoning: str = "") -> None:
        """Add deltas to the last message; the screen follows within RENDER_INTERVAL_MS."""
        last = self.messages[-1]
        last.text += text
        last.reasoning += reasoning
        if not self._render_timer.isActive():
            self._render_timer.start()

    def finish(self, status: str, error: str | None = None) -> None:
        last = self.messages[-1]
        last.status, last.error = status, error
        self._render_timer.stop()
        self._render_tail()

    def _render_tail(self) -> None:
        bar = self.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 4
        cursor = QTextCursor(self.document())
        cursor.setPosition(min(self._tail_start, self.document().characterCount() - 1))
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.insertHtml(self._block(len(self.messages) - 1, self.messages[-1]))
        if at_bottom:
            bar.setValue(bar.maximum())

    # HTML of one message
    def _block(self, index: int, m: ViewMessage) -> str:
        who = {"user": "You", "assistant": "Spyglass", "system": "System"}.get(m.role, m.role)
        parts = [f'<p style="margin-top:14px"><b>{who}</b></p>']
        if m.attachments:
            parts.append(self._attachments(index, m.attachments))
        if m.reasoning:
            parts.append(self._reasoning(index, m.reasoning))
        if m.text:
            parts.append(render_markdown(m.text) if m.role == "assistant" else f"<p>{escape(m.text)}</p>")
        elif m.status == "streaming":
            parts.append('<p style="color:#888">…</p>')
        note = STATUS_NOTES.get(m.status)
        if m.status == "error" or m.error:
            note = f"⚠ {html.escape(m.error or 'the reply failed')}"
        if note:
            parts.append(f'<p style="color:#b45309"><i>{note}</i></p>')
        parts += [f'<p style="color:#555"><i>{html.escape(n)}</i></p>' for n in m.notes]
        return "".join(parts)

    def _attachments(self, index: int, records: tuple[AttachmentRecord, ...]) -> str:
        cells = []
        for i, a in enumerate(records):
            key = f"thumb:{index}/{i}"
            if a.thumbnail:
                self._thumbs[key] = a.thumbnail
                image = f'<img src="{key}" height="96"><br>'
            else:
                image = ""
            cells.append(f'<td style="padding:4px"><a href="attach:{index}/{i}">{image}</a>'
                         f'<span style="color:#555">{html.escape(caption(a))}</span></td>')
        return f'<table><tr>{"".join(cells)}</tr></table>'

    def _reasoning(self, index: int, reasoning: str) -> str:
        words = len(reasoning.split())
        if index not in self._expanded:
            return f'<p><a href="fold:{index}">▸ Reasoning ({words} words)</a></p>'
        return (f'<p><a href="fold:{index}">▾ Reasoning ({words} words)</a></p>'
                f'<p style="color:#666; margin-left:12px">{escape(reasoning)}</p>')

    def loadResource(self, kind: int, url: QUrl):  # noqa: N802 - Qt override
        data = self._thumbs.get(url.toString())
        if data is not None and kind == QTextDocument.ResourceType.ImageResource.value:
            return from_png(data)
        return super().loadResource(kind, url)

    def _clicked(self, url: QUrl) -> None:
        link = url.toString()
        if link.startswith("fold:"):
            self._expanded ^= {int(link[5:])}
            self.render_all()
        elif link.startswith("attach:"):
            index, i = map(int, link[7:].split("/"))
            self.sig_open_attachment.emit(self.messages[index].attachments[i])
        elif (citation := parse_link(link)) is not None:
            self.sig_citation.emit(citation)

    def reasoning_expanded(self, index: int) -> bool:
        return index in self._expanded


__all__ = ["ChatView", "Citation", "ViewMessage"]
