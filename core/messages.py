"""Messages as the spine carries them: a role and an ordered list of parts (SPEC: the spine).

Ingestion produces parts, engines consume them, the UI renders them and the store saves them.
This file holds the text side; image parts (with their source) join with the vision runtime.
`template_messages` turns messages into the plain dicts a chat template reads, refusing parts
the engine cannot show the model rather than dropping them silently.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.events import ToolCall

ROLES = ("system", "user", "assistant", "tool")


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True)
class Message:
    role: str
    parts: tuple = ()
    tool_calls: tuple[ToolCall, ...] = ()  # calls an assistant message made
    reasoning: str = ""  # an assistant message's reasoning, for templates that replay it

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"message role {self.role!r} is unknown; use one of {', '.join(ROLES)}")

    @classmethod
    def text(cls, role: str, text: str) -> Message:
        return cls(role, (TextPart(text),))


def template_messages(messages: list[Message]) -> list[dict]:
    """The dicts a chat template reads: role, content, and tool calls in the OpenAI shape."""
    out = []
    for i, m in enumerate(messages):
        unknown = [type(p).__name__ for p in m.parts if not isinstance(p, TextPart)]
        if unknown:
            raise ValueError(f"message {i} ({m.role}) has a {unknown[0]}, which this engine cannot read")
        entry = {"role": m.role, "content": "".join(p.text for p in m.parts)}
        if m.tool_calls:
            entry["tool_calls"] = [{"type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                                   for c in m.tool_calls]
        if m.reasoning:
            entry["reasoning_content"] = m.reasoning
        out.append(entry)
    return out
