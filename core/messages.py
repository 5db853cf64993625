"""Messages as the spine carries them: a role and an ordered list of parts (SPEC: the spine).

Ingestion produces parts, engines consume them, the UI renders them and the store saves them.
A part is text, an image or a video, each with the `Source` it came from (a file, a PDF page, a
video frame at a timestamp, a screenshot with its screen geometry), so answers can cite it and
screen coordinates can be mapped back. Pixels are numpy `uint8` RGB arrays: no imaging library
crosses the spine. `template_messages` turns messages into the plain dicts a chat template
reads, refusing parts the engine cannot show the model rather than dropping them silently.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from core.events import ToolCall

ROLES = ("system", "user", "assistant", "tool")
SOURCE_KINDS = ("file", "pdf_page", "video_frame", "screenshot", "clipboard", "typed")


@dataclass(frozen=True)
class ScreenGeometry:
    """Where a screenshot's pixels lie on the desktop, to map model coordinates back to clicks.

    `left, top, width, height`: the captured rectangle in desktop (logical) coordinates, origin at
    the primary monitor's top-left; `scale`: image pixels per logical unit (2.0 on a HiDPI
    screen); `monitor`: the mss monitor index captured (0 = all monitors)."""

    left: int
    top: int
    width: int
    height: int
    scale: float = 1.0
    monitor: int = 0


@dataclass(frozen=True)
class Source:
    kind: str  # one of SOURCE_KINDS
    path: str | None = None
    page: int | None = None  # 1-based page of a PDF
    timestamp: float | None = None  # seconds into a video
    geometry: ScreenGeometry | None = None

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"source kind {self.kind!r} is unknown; use one of {', '.join(SOURCE_KINDS)}")


TYPED = Source("typed")


@dataclass(frozen=True)
class TextPart:
    text: str
    source: Source = TYPED


@dataclass(frozen=True, eq=False)
class ImagePart:
    pixels: np.ndarray  # [H, W, 3] uint8 RGB
    source: Source

    def __post_init__(self) -> None:
        _check_pixels("image", self.pixels, rank=3)


@dataclass(frozen=True, eq=False)
class VideoPart:
    frames: np.ndarray  # [N, H, W, 3] uint8 RGB, already sampled
    timestamps: tuple[float, ...]  # seconds of each frame
    source: Source

    def __post_init__(self) -> None:
        _check_pixels("video", self.frames, rank=4)
        if len(self.timestamps) != self.frames.shape[0]:
            raise ValueError(f"a video of {self.frames.shape[0]} frames has {len(self.timestamps)} timestamps")


def _check_pixels(what: str, array, *, rank: int) -> None:
    if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim != rank or array.shape[-1] != 3:
        shape = getattr(array, "shape", None)
        raise ValueError(
            f"{what} pixels must be a uint8 RGB array of rank {rank} ending in 3, got "
            f"{type(array).__name__} {getattr(array, 'dtype', '')} {shape}"
        )
    if 0 in array.shape:
        raise ValueError(f"{what} has no pixels (shape {array.shape})")


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


def pixel_digest(pixels: np.ndarray) -> str:
    """A content digest of pixels (shape included): equal images share cache entries, others never."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str(pixels.shape).encode())
    h.update(np.ascontiguousarray(pixels).reshape(-1).data)
    return h.hexdigest()


IMAGE_MARK, VIDEO_MARK = "]<]image[>[", "]<]video[>["  # where a medium sits in a message's text


def template_messages(messages: list[Message], media: list | None = None) -> list[dict]:
    """The dicts a chat template reads: role, content, and tool calls in the OpenAI shape.

    With a `media` list, each image or video becomes a marker in the content and is appended to
    the list in prompt order; without one, a message holding media is refused."""
    out = []
    for i, m in enumerate(messages):
        content = []
        for p in m.parts:
            if isinstance(p, TextPart):
                content.append(p.text)
            elif media is not None and isinstance(p, (ImagePart, VideoPart)):
                content.append(IMAGE_MARK if isinstance(p, ImagePart) else VIDEO_MARK)
                media.append(p)
            else:
                raise ValueError(
                    f"message {i} ({m.role}) has a {type(p).__name__}, which this model cannot read "
                    "(its folder has no vision tower)"
                )
        entry: dict[str, object] = {"role": m.role, "content": "".join(content)}
        if m.tool_calls:
            entry["tool_calls"] = [
                {"type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in m.tool_calls
            ]
        if m.reasoning:
            entry["reasoning_content"] = m.reasoning
        out.append(entry)
    return out
