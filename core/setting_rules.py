"""What each setting may hold: its type and its range, checked wherever a `Settings` is made.

Every settings dataclass calls `validate` from `__post_init__`, so values from the file, the
environment, the command line and the dialog pass through the same checks, and an error names
the dotted key, the value and what is allowed. Types are strict: a list is not a folder name, a
bool is not a count and 1e30 is not a whole number; a float setting takes an int. Ranges:
`context_tokens` and `max_tokens` stop at `MAX_TOKENS` (ten million: far past any model's
context, low enough to catch a typo before a cache is sized by it); a seed is 32 bits because
llama.cpp takes no more; a server URL is http(s) with a host; timeouts are above 0 and at most a
day; numbers must be finite (JSON's NaN and Infinity read as floats). An agent task stops at
`MAX_AGENT_STEPS` at most; its stop keys are written as the hotkey module reads them.
"""

from __future__ import annotations

import math
import re
import types
import typing
from collections.abc import Callable
from dataclasses import fields
from typing import Any

DTYPES = ("bf16", "fp32")
ATTENTION_BACKENDS = ("reference", "triton")
INDEX_CACHES = ("auto", "fp8")  # the MSA index keys' cache: the KV cache's dtype, or fp8 e4m3
MAX_TOKENS = 10_000_000
MAX_SEED = 2**32 - 1
DEVICE = re.compile(r"cpu|cuda(:[0-9]+)?")
URL = re.compile(r"https?://[^\s/?#]+[^\s]*", re.I)
MAX_SECONDS = 86_400  # a day: longer is a typo, not a timeout
MAX_RETRIES = 20
MAX_QUEUE = 4096  # requests waiting for the server's one engine
MAX_BODY = 1 << 30  # largest request body the server may be told to accept
MAX_AGENT_STEPS = 1000
MAX_MONITOR = 64
HOTKEY = re.compile(r"(<\w+>|[^\s+<>])(\+(<\w+>|[^\s+<>]))*")  # core/desktop/hotkey.py's chords
SHOWN_CHARS = 80  # a value longer than this is cut in messages


def _finite(low: float, high: float = math.inf, *, above: bool = False) -> Callable[[Any], bool]:
    def ok(v: Any) -> bool:
        return (isinstance(v, int) or math.isfinite(v)) and (v > low if above else v >= low) and v <= high

    return ok


def _no_nul(v: str) -> bool:
    return "\0" not in v


# dotted key -> (test of a value of the right type that is not None, what is allowed)
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "model_dir": (_no_nul, "a folder name (text without NUL characters), or null"),
    "models_dir": (_no_nul, "a folder name (text without NUL characters), or null"),
    "data_dir": (_no_nul, "a folder name (text without NUL characters), or null"),
    "engine": (lambda v: v.strip() != "", "the name of a backend: auto, msa, gguf or remote"),
    "context_tokens": (_finite(1, MAX_TOKENS), f"a whole number from 1 to {MAX_TOKENS:,}"),
    "max_tokens": (_finite(1, MAX_TOKENS), f"a whole number from 1 to {MAX_TOKENS:,}"),
    "temperature": (_finite(0), "a finite number of at least 0 (0 is greedy), or null for the model's own"),
    "top_p": (_finite(0, 1, above=True), "a number above 0 and at most 1, or null for the model's own"),
    "top_k": (_finite(0), "a whole number of at least 0, or null for the model's own"),
    "seed": (_finite(0, MAX_SEED), f"a whole number from 0 to {MAX_SEED:,}, or null for a random seed"),
    "msa.device": (
        lambda v: DEVICE.fullmatch(v) is not None,
        "cpu, cuda or cuda:N (N a GPU number), or null for cuda when available",
    ),
    "msa.dtype": (DTYPES.__contains__, f"one of {', '.join(DTYPES)}, or null for the default"),
    "msa.attention": (ATTENTION_BACKENDS.__contains__, f"one of {', '.join(ATTENTION_BACKENDS)}, or null"),
    "msa.index_cache": (INDEX_CACHES.__contains__, f"one of {', '.join(INDEX_CACHES)} (auto: the KV cache's dtype)"),
    "gguf.gpu_layers": (_finite(-1), "a whole number: -1 for all layers, 0 for none, or a count"),
    "gguf.threads": (_finite(1), "a whole number of at least 1, or null for llama.cpp's choice"),
    "gguf.mmproj": (_no_nul, "a file name (text without NUL characters), or null"),
    "remote.base_url": (
        lambda v: URL.fullmatch(v) is not None,
        "an http:// or https:// URL without spaces (e.g. http://host:8000/v1), or null",
    ),
    "remote.model": (lambda v: v.strip() != "" and _no_nul(v), "a model name the server lists, or null"),
    "remote.connect_timeout": (_finite(0, MAX_SECONDS, above=True), f"seconds above 0, at most {MAX_SECONDS:,}"),
    "remote.read_timeout": (_finite(0, MAX_SECONDS, above=True), f"seconds above 0, at most {MAX_SECONDS:,}"),
    "remote.retries": (_finite(0, MAX_RETRIES), f"a whole number from 0 to {MAX_RETRIES}"),
    "serve.host": (lambda v: v.strip() != "" and _no_nul(v), "a host name or IP address, e.g. 127.0.0.1"),
    "serve.port": (_finite(0, 65535), "a whole number from 0 (any free port) to 65,535"),
    "serve.queue": (_finite(0, MAX_QUEUE), f"a whole number from 0 to {MAX_QUEUE:,}"),
    "serve.max_body_bytes": (_finite(1024, MAX_BODY), f"a whole number of bytes from 1,024 to {MAX_BODY:,}"),
    "agent.max_steps": (_finite(1, MAX_AGENT_STEPS), f"a whole number from 1 to {MAX_AGENT_STEPS:,}"),
    "agent.monitor": (_finite(0, MAX_MONITOR), f"a whole number from 0 (all monitors) to {MAX_MONITOR}"),
    "agent.stop_hotkey": (
        lambda v: HOTKEY.fullmatch(v) is not None,
        "keys joined by +, named keys in angle brackets, e.g. <ctrl>+<alt>+<end>, or null for that default",
    ),
}
TYPE_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}


def _kinds(hint: Any) -> tuple[type, ...]:
    """The plain types a field's annotation allows (`int | None` -> (int, NoneType))."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return (hint,)


def _has_type(value: Any, kinds: tuple[type, ...]) -> bool:
    if isinstance(value, bool):  # bool is an int to Python, never to a setting
        return bool in kinds
    if isinstance(value, int) and float in kinds:
        return True
    return any(kind is not bool and isinstance(value, kind) for kind in kinds)


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def allowed(key: str, kinds: tuple[type, ...]) -> str:
    if key in RULES:
        return RULES[key][1]
    words = " or ".join(TYPE_WORDS.get(k, k.__name__) for k in kinds if k is not type(None))
    return words + (", or null" if type(None) in kinds else "")


def validate(obj: Any, section: str) -> None:
    """Raise ValueError naming the first value of the settings dataclass `obj` that is not allowed."""
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):
        key, value, kinds = f"{section}.{f.name}" if section else f.name, getattr(obj, f.name), _kinds(hints[f.name])
        if value is None and type(None) in kinds or key not in RULES and _has_type(value, kinds):
            continue
        rule = RULES.get(key)
        if not _has_type(value, kinds) or rule is None or not rule[0](value):
            raise ValueError(f"setting {key} = {shown(value)} is not allowed; it must be {allowed(key, kinds)}")
