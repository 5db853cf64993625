"""Engines: the one place a backend is chosen for a model folder (SPEC: the Engine protocol).

`open_engine` picks the backend from what the folder holds, or the one forced by the caller or
`SPYGLASS_ENGINE`, and logs why. Today that is our MSA runtime for a safetensors M3 folder;
the GGUF and remote backends join here behind the same protocol.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .msa import MsaEngine
from .protocol import Engine, EngineError, GenerateOptions

log = logging.getLogger(__name__)
BACKENDS = ("msa",)

__all__ = ["BACKENDS", "Engine", "EngineError", "GenerateOptions", "MsaEngine", "open_engine"]


def open_engine(folder: str | Path, *, backend: str | None = None, **kwargs) -> Engine:
    """An engine for the model in `folder`, not loaded yet (call `load`)."""
    folder = Path(folder)
    forced = backend or os.environ.get("SPYGLASS_ENGINE") or None
    if forced is not None and forced not in BACKENDS:
        raise EngineError(f"engine backend {forced!r} is unknown; choose one of {', '.join(BACKENDS)}")
    if forced:
        reason = "forced by the caller or SPYGLASS_ENGINE"
    elif (folder / "config.json").is_file():
        forced, reason = "msa", "the folder holds a config.json checkpoint"
    else:
        raise EngineError(f"{folder} holds no model Spyglass can run: expected a checkpoint folder with "
                          "config.json, safetensors weights, tokenizer.json and chat_template.jinja")
    log.info("engine backend: %s (%s)", forced, reason)
    return MsaEngine(folder, **kwargs)
