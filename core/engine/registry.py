"""The one list of engine backends, and `open_engine`, the one place a backend is chosen.

A `Backend` says everything the rest of Spyglass needs to know without importing it: its name,
how it is labelled in Settings, how to tell that a model location is for it (`detect`), which
modules it needs installed, and where its factory lives (`module:function`, imported only when
an engine is built, so the app, the CLI and every other backend run without torch when the MSA
runtime is not used). The CLI, the settings dialog and the window all read this list. A new
backend is one module with a `from_settings(settings) -> Engine` function plus one `register`
call. Backends that are announced but not built yet are listed as `coming`. A `server` backend
(remote) needs no model folder: its location is `remote.base_url`, or a model location that is
an http(s) URL, which `auto` then sends to it. In a packaged edition without torch (sys.frozen),
a backend whose modules are missing is refused with a pointer to the edition that has them.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .protocol import Engine, EngineError

if TYPE_CHECKING:
    from core.settings import Settings

log = logging.getLogger(__name__)
AUTO = "auto"


@dataclass(frozen=True)
class Backend:
    name: str  # the value of the `engine` setting
    label: str  # what Settings shows
    factory: str  # "package.module:function", called with the Settings; returns an Engine, not loaded
    detect: Callable[[Path], str | None] = lambda path: None  # why it can run the model at `path`, or None
    requires: tuple[str, ...] = ()  # modules that must be importable
    coming: bool = False  # announced, not built yet: listed, never chosen
    server: bool = False  # its model location is a server URL (`remote.base_url` or an http(s) model location)

    def missing(self) -> tuple[str, ...]:
        """The required modules that are not installed."""
        return tuple(m for m in self.requires if importlib.util.find_spec(m) is None)

    def build(self, settings: Settings) -> Engine:
        module, _, function = self.factory.partition(":")
        make = getattr(importlib.import_module(module), function)
        engine: Engine = make(settings)
        return engine


_BACKENDS: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    """Add (or replace) a backend; returns it."""
    if backend.name == AUTO:
        raise ValueError(f"'{AUTO}' is reserved: it means 'choose from the model folder'")
    _BACKENDS[backend.name] = backend
    return backend


def unregister(name: str) -> None:
    _BACKENDS.pop(name, None)


def backends() -> tuple[Backend, ...]:
    return tuple(_BACKENDS.values())


def get_backend(name: str) -> Backend:
    if name not in _BACKENDS:
        known = ", ".join([AUTO, *(b.name for b in backends() if not b.coming)])
        raise EngineError(f"engine backend {name!r} is unknown; choose one of {known}")
    return _BACKENDS[name]


def is_url(location: str) -> bool:
    return location.lower().startswith(("http://", "https://"))


def model_location(settings: Settings) -> str | None:
    """What the model is, for loading and for the user: the model location, else the server URL
    of a server backend chosen in the engine setting."""
    if settings.model_dir:
        return settings.model_dir
    forced = _BACKENDS.get(settings.engine)
    return settings.remote.base_url if forced is not None and forced.server else None


def choose_backend(settings: Settings) -> tuple[Backend, str]:
    """The backend for `settings` and the reason it was chosen."""
    forced = get_backend(settings.engine) if settings.engine != AUTO else None
    if not settings.model_dir and not (forced and forced.server and settings.remote.base_url):
        raise EngineError("no model is set; choose a model folder in Settings or pass --model DIR")
    if forced is not None:
        if forced.coming:
            raise EngineError(
                f"the {forced.label} backend is coming in a later release; choose another in "
                "Settings or set engine to auto"
            )
        return forced, f"the engine setting is {settings.engine!r}"
    assert settings.model_dir is not None
    if is_url(settings.model_dir):
        for backend in backends():
            if backend.server and not backend.coming:
                return backend, "the model location is a server URL"
    path = Path(settings.model_dir).expanduser()
    if not path.exists():
        raise EngineError(f"the model location {path} does not exist")
    for backend in backends():
        reason = None if backend.coming else backend.detect(path)
        if reason:
            return backend, reason
    raise EngineError(
        f"{path} holds no model Spyglass can run: expected a checkpoint folder with config.json, "
        "safetensors weights, tokenizer.json and chat_template.jinja"
    )


def open_engine(settings: Settings) -> Engine:
    """An engine for `settings.model_dir`, built by the chosen backend, not loaded yet (call `load`)."""
    backend, reason = choose_backend(settings)
    missing = backend.missing()
    if missing and getattr(sys, "frozen", False):  # a packaged edition: pip cannot add to it
        raise EngineError(
            f"the {backend.label} backend needs {', '.join(missing)}, which this edition of Spyglass "
            "does not include; install Spyglass GPU for it, or choose another backend"
        )
    if missing:
        raise EngineError(
            f"the {backend.label} backend needs {', '.join(missing)}, which is not installed; "
            f"install it (pip install {' '.join(missing)}) or choose another backend"
        )
    log.info("engine backend: %s (%s)", backend.name, reason)
    return backend.build(settings)


def _checkpoint_folder(path: Path) -> str | None:
    if path.is_dir() and (path / "config.json").is_file() and any(path.glob("*.safetensors")):
        return "the folder holds a config.json and safetensors weights"
    return None


register(
    Backend(
        "msa", "MSA runtime (this computer)", "core.engine.msa:from_settings", _checkpoint_folder, requires=("torch",)
    )
)


def _gguf(path: Path) -> str | None:
    from .gguf import detect  # plain Python: it imports no llama.cpp

    return detect(path)


register(Backend("gguf", "GGUF file (llama.cpp)", "core.engine.gguf:from_settings", _gguf, requires=("llama_cpp",)))
register(
    Backend(
        "remote",
        "Remote server (OpenAI-compatible)",
        "core.engine.remote:from_settings",
        requires=("openai",),
        server=True,
    )
)
