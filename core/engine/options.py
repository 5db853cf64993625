"""What a caller may ask of any engine for one reply: sampling, length, stop strings, tools.

Torch-free, so the app, the CLI and every backend share it without loading a model runtime.
Sampling fields left as None mean "the model's own default" (a checkpoint's
`generation_config.json`, a GGUF file's metadata, a server's defaults): each engine resolves
them with `SamplingParams.resolved(its_defaults)`. `options_from_settings` is the one place
the user's settings become request options, for the window, the CLI and later the agent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from core.settings import Settings

GREEDY_TEMPERATURE, NO_TOP_K, NO_TOP_P = 0.0, 0, 1.0
_T = TypeVar("_T")


@dataclass(frozen=True)
class SamplingParams:
    temperature: float | None = None  # 0 = greedy
    top_k: int | None = None  # 0 = no limit
    top_p: float | None = None  # 1 = no nucleus cut
    seed: int | None = None  # makes a sampled reply repeatable

    def __post_init__(self) -> None:
        if self.temperature is not None and self.temperature < 0:
            raise ValueError(f"temperature={self.temperature}; use 0 for greedy or a positive value")
        if self.top_k is not None and self.top_k < 0:
            raise ValueError(f"top_k={self.top_k}; use 0 for no limit or a positive count")
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p={self.top_p}; it must be in (0, 1]")

    @property
    def greedy(self) -> bool:
        return not self.temperature

    def resolved(self, defaults: SamplingParams | None = None) -> SamplingParams:
        """Every field set: ours where given, else `defaults`', else greedy with no cuts."""
        base = defaults or SamplingParams()

        def pick(name: str, fallback: _T) -> _T:
            mine, theirs = getattr(self, name), getattr(base, name)
            return mine if mine is not None else theirs if theirs is not None else fallback

        return SamplingParams(
            temperature=pick("temperature", GREEDY_TEMPERATURE),
            top_k=pick("top_k", NO_TOP_K),
            top_p=pick("top_p", NO_TOP_P),
            seed=pick("seed", None),
        )


GREEDY = SamplingParams(temperature=0.0)


@dataclass(frozen=True)
class GenerateOptions:
    sampling: SamplingParams = SamplingParams()  # unset fields: the model's defaults
    max_tokens: int = 1024
    stop: tuple[str, ...] = ()
    tools: tuple[dict, ...] = ()  # JSON-schema tool definitions, passed to the chat template
    template_options: dict = field(default_factory=dict)  # e.g. {"enable_thinking": True}

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens={self.max_tokens}; it must be at least 1")


def options_from_settings(
    settings: Settings, *, stop: tuple[str, ...] = (), tools: tuple[dict, ...] = ()
) -> GenerateOptions:
    """The request options the user's settings ask for (sampling left unset stays the model's)."""
    sampling = SamplingParams(
        temperature=settings.temperature, top_k=settings.top_k, top_p=settings.top_p, seed=settings.seed
    )
    template = {} if settings.think is None else {"enable_thinking": settings.think}
    return GenerateOptions(
        sampling=sampling, max_tokens=settings.max_tokens, stop=stop, tools=tools, template_options=template
    )
