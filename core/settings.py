"""Spyglass settings: one frozen dataclass, read from four places in a fixed order.

Precedence is CLI > environment (`SPYGLASS_*`) > settings file > defaults (STYLE 13). Each field
names its own environment variable in its metadata, so the README table and the loader cannot
drift apart (tests/core/test_settings.py checks the table against `FIELDS`). The file is JSON in
the user config folder (`$XDG_CONFIG_HOME/spyglass/settings.json`, computed here without Qt);
history lives in the user data folder. No module-level mutable state: callers pass a `Settings`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

ENGINES = ("msa", "gguf", "remote")  # gguf and remote are listed for the settings dialog; they are coming
DTYPES = ("bf16", "fp32")


def _env(name: str, doc: str) -> dict:
    return {"env": name, "doc": doc}


@dataclass(frozen=True)
class Settings:
    model_dir: str | None = field(default=None, metadata=_env("SPYGLASS_MODEL", "model folder to load at start"))
    engine: str = field(default="msa", metadata=_env("SPYGLASS_ENGINE", "backend: msa (gguf, remote: coming)"))
    device: str | None = field(default=None, metadata=_env("SPYGLASS_DEVICE", "cuda, cuda:1 or cpu (default: cuda when available)"))
    dtype: str | None = field(default=None, metadata=_env("SPYGLASS_DTYPE", "bf16 or fp32 (default: bf16 on CUDA, else fp32)"))
    attention: str | None = field(default=None, metadata=_env("SPYGLASS_ATTENTION", "force the attention backend: reference or triton"))
    context_tokens: int = field(default=32768, metadata=_env("SPYGLASS_CONTEXT", "tokens of context reserved in the cache"))
    max_tokens: int = field(default=1024, metadata=_env("SPYGLASS_MAX_TOKENS", "longest reply in tokens"))
    temperature: float | None = field(default=None, metadata=_env("SPYGLASS_TEMPERATURE", "sampling temperature, 0 greedy (default: the model's)"))
    top_p: float | None = field(default=None, metadata=_env("SPYGLASS_TOP_P", "nucleus sampling (default: the model's)"))
    top_k: int | None = field(default=None, metadata=_env("SPYGLASS_TOP_K", "top-k sampling (default: the model's)"))
    seed: int | None = field(default=None, metadata=_env("SPYGLASS_SEED", "makes sampling repeatable"))
    think: bool | None = field(default=None, metadata=_env("SPYGLASS_THINK", "ask the template for a reasoning phase (true/false)"))
    system_prompt: str = field(default="", metadata=_env("SPYGLASS_SYSTEM", "system message sent first in every conversation"))
    data_dir: str | None = field(default=None, metadata=_env("SPYGLASS_DATA_DIR", "where history is kept (default: the user data folder)"))

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine {self.engine!r} is unknown; choose one of {', '.join(ENGINES)}")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise ValueError(f"dtype {self.dtype!r} is unknown; choose one of {', '.join(DTYPES)}")
        for name in ("context_tokens", "max_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}; it must be at least 1")

    def history_path(self) -> Path:
        return Path(self.data_dir or user_data_dir()) / "history.sqlite3"


FIELDS = {f.name: f for f in fields(Settings)}
ENV_VARS = {f.metadata["env"]: f.name for f in fields(Settings)}


def _home_dir(xdg: str, posix: str, mac: str, win: str, env: Mapping[str, str]) -> Path:
    if sys.platform == "win32":
        return Path(env.get(win) or Path.home() / "AppData" / "Roaming") / "spyglass"
    if sys.platform == "darwin":
        return Path.home() / "Library" / mac / "spyglass"
    return Path(env.get(xdg) or Path.home() / posix) / "spyglass"


def user_config_dir(env: Mapping[str, str] = os.environ) -> Path:
    return _home_dir("XDG_CONFIG_HOME", ".config", "Preferences", "APPDATA", env)


def user_data_dir(env: Mapping[str, str] = os.environ) -> Path:
    return _home_dir("XDG_DATA_HOME", ".local/share", "Application Support", "LOCALAPPDATA", env)


def settings_path(env: Mapping[str, str] = os.environ) -> Path:
    return user_config_dir(env) / "settings.json"


def parse_value(name: str, raw: object) -> object:
    """`raw` (a string from the environment, or a JSON value) as the type of field `name`."""
    kind = str(FIELDS[name].type)
    if raw is None or raw == "":
        return None if "None" in kind else FIELDS[name].default
    text = str(raw).strip()
    try:
        if kind.startswith("bool"):
            if isinstance(raw, bool):
                return raw
            if text.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(text)
            return text.lower() in ("1", "true", "yes", "on")
        if kind.startswith("int"):
            return int(text)
        if kind.startswith("float"):
            return float(text)
    except ValueError:
        raise ValueError(f"setting {name} = {text!r} is not a valid {kind.split(' ')[0]}") from None
    return text


def read_file(path: Path) -> dict:
    """The settings file's values (empty when it does not exist); a malformed file is an error."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"settings file {path} cannot be read: {err}; fix or delete it") from None
    if not isinstance(data, dict):
        raise ValueError(f"settings file {path} must hold a JSON object")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ValueError(f"settings file {path} has unknown settings {', '.join(unknown)}")
    return {k: parse_value(k, v) for k, v in data.items()}


def overridden_fields(names: Iterable[str]) -> set[str]:
    """Settings fields behind override names as the app lists them (`SPYGLASS_X` or `--x`)."""
    return {ENV_VARS.get(n) or n.removeprefix("--").replace("-", "_") for n in names} & set(FIELDS)


def read_env(env: Mapping[str, str]) -> dict:
    return {name: parse_value(name, env[var]) for var, name in ENV_VARS.items() if var in env}


def load_settings(cli: Mapping[str, object] | None = None, *, env: Mapping[str, str] = os.environ,
                  path: Path | None = None) -> Settings:
    """Defaults, overlaid by the file, then the environment, then CLI values that are not None."""
    values = read_file(path or settings_path(env))
    values |= read_env(env)
    values |= {k: v for k, v in (cli or {}).items() if v is not None}
    return Settings(**values)


def save_settings(settings: Settings, path: Path, *, keep: Iterable[str] = ()) -> None:
    """Write the values that differ from the defaults, atomically (write, then rename). Settings
    named in `keep` (in force only because the environment or the command line set them) keep
    what the file held, so a one-off override never becomes the saved choice."""
    keep = set(keep)
    data = {k: v for k, v in asdict(settings).items() if v != FIELDS[k].default and k not in keep}
    old = read_file(path) if keep else {}
    data |= {k: old[k] for k in keep if k in old}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


__all__ = ["ENGINES", "ENV_VARS", "FIELDS", "Settings", "load_settings", "overridden_fields", "read_env", "read_file",
           "save_settings", "settings_path", "user_config_dir", "user_data_dir"]
