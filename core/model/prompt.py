"""Turning messages into token ids: the checkpoint's tokenizer and its own chat template.

The template is the checkpoint's `chat_template.jinja` (MSA.md §7: the authority on the prompt
layout), rendered in Jinja's immutable sandbox, so a template from a downloaded model folder can
read the values it is given but cannot reach Python internals or change them. Thinking modes and
tool definitions are passed through to the template as it expects them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

if TYPE_CHECKING:  # imported where used: the GGUF engine renders templates without it (lite bundle)
    from tokenizers import Tokenizer


class PromptError(ValueError):
    """The tokenizer or chat template cannot be used; the message names the file."""


def _raise(message: str):
    raise TemplateError(message)


class ChatTemplate:
    def __init__(self, source: str, name: str = "chat_template.jinja"):
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise
        try:
            self._template = env.from_string(source)
        except TemplateError as err:
            raise PromptError(f"{name} is not a valid Jinja template: {err}") from err
        self.name = name

    def render(
        self, messages: list[dict], *, tools: list[dict] | None = None, add_generation_prompt: bool = True, **options
    ) -> str:
        """The prompt text; `options` (e.g. a thinking switch) reach the template as variables."""
        try:
            return self._template.render(
                messages=messages, tools=tools, add_generation_prompt=add_generation_prompt, **options
            )
        except TemplateError as err:  # SecurityError included: the sandbox refused something
            raise PromptError(f"{self.name} failed to render: {err}") from err


def load_template(folder: str | Path) -> ChatTemplate:
    path = Path(folder) / "chat_template.jinja"
    if not path.is_file():
        raise PromptError(f"{path} does not exist: the model folder needs its chat template")
    return ChatTemplate(path.read_text(encoding="utf-8"), path.name)


def load_tokenizer(folder: str | Path) -> Tokenizer:
    from tokenizers import Tokenizer

    path = Path(folder) / "tokenizer.json"
    if not path.is_file():
        raise PromptError(f"{path} does not exist: the model folder needs its tokenizer.json")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as err:  # tokenizers raises a bare Exception for a malformed file
        raise PromptError(f"{path} is not a valid tokenizer: {err}") from err
