"""Engines: one protocol for every backend, one registry that chooses among them (SPEC: Engine).

Nothing here imports torch: the protocol, the request options, the media plan and the registry
are plain Python, and a backend's module is imported only when `open_engine` builds it.
"""

from __future__ import annotations

from .media import MediaPlan
from .options import GREEDY, GenerateOptions, SamplingParams, options_from_settings
from .protocol import STATES, Engine, EngineError, EngineInfo
from .registry import (
    AUTO,
    Backend,
    backends,
    choose_backend,
    get_backend,
    model_location,
    open_engine,
    register,
    unregister,
)

__all__ = [
    "AUTO",
    "GREEDY",
    "STATES",
    "Backend",
    "Engine",
    "EngineError",
    "EngineInfo",
    "GenerateOptions",
    "MediaPlan",
    "SamplingParams",
    "backends",
    "choose_backend",
    "get_backend",
    "model_location",
    "open_engine",
    "options_from_settings",
    "register",
    "unregister",
]
