"""Spyglass settings: one frozen dataclass, read from four places in a fixed order.

Precedence is CLI > environment (`SPYGLASS_*`) > settings file > defaults (STYLE 13). This is the
only module that reads Spyglass's environment variables. Settings every backend shares sit at the
top level; what only one backend reads sits in that backend's section (`msa`: our runtime's
device, dtype, attention, decode-graph and index-cache switches; the GGUF and remote sections come with those
backends), and `spyglass serve` has one too (`serve`: its address, queue and limits), as does the
computer-use agent (`agent`: its step cap, the monitor it works on, its emergency-stop keys). Keys are
dotted (`msa.device`) in `FIELDS`, in the README table and on the command line; the file nests
each section as a JSON object. Each field names its environment variable in its metadata, so the
README table and the loader cannot drift apart (tests/core/test_settings.py checks the table).
The file is JSON in the user config folder (`$XDG_CONFIG_HOME/spyglass/settings.json`, computed
here without Qt); history lives in the user data folder. No module-level mutable state: callers
pass a `Settings`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .setting_rules import ATTENTION_BACKENDS, DTYPES, INDEX_CACHES, SHOWN_CHARS, shown, validate

LEGACY_KEYS = {"device": "msa.device", "dtype": "msa.dtype", "attention": "msa.attention"}  # files before sections


def _env(name: str, doc: str) -> dict:
    return {"env": name, "doc": doc}


@dataclass(frozen=True)
class MsaSettings:
    """Our MiniMax-M3 runtime (core/engine/msa.py)."""

    device: str | None = field(
        default=None, metadata=_env("SPYGLASS_DEVICE", "cuda, cuda:1 or cpu (default: cuda when available)")
    )
    dtype: str | None = field(
        default=None, metadata=_env("SPYGLASS_DTYPE", "bf16 or fp32 (default: bf16 on CUDA, else fp32)")
    )
    attention: str | None = field(
        default=None, metadata=_env("SPYGLASS_ATTENTION", "force the attention backend: reference or triton")
    )
    decode_graph: bool = field(
        default=True, metadata=_env("SPYGLASS_DECODE_GRAPH", "replay decode steps as a CUDA graph (Triton backend)")
    )
    index_cache: str = field(
        default="auto",
        metadata=_env("SPYGLASS_INDEX_CACHE", "MSA index keys' cache: auto (the KV cache's dtype) or fp8 (e4m3)"),
    )

    def __post_init__(self) -> None:
        validate(self, "msa")


@dataclass(frozen=True)
class GgufSettings:
    """A quantized GGUF model through llama.cpp (core/engine/gguf.py)."""

    gpu_layers: int = field(
        default=-1,
        metadata=_env("SPYGLASS_GGUF_GPU_LAYERS", "layers on the GPU: -1 all, 0 none (CPU builds ignore it)"),
    )
    threads: int | None = field(
        default=None, metadata=_env("SPYGLASS_GGUF_THREADS", "CPU threads (default: llama.cpp's choice)")
    )
    flash_attn: bool | None = field(
        default=None,
        metadata=_env(
            "SPYGLASS_GGUF_FLASH_ATTN", "flash attention (default: on; MiniMax-M3's sparse attention needs it)"
        ),
    )
    mmap: bool = field(default=True, metadata=_env("SPYGLASS_GGUF_MMAP", "map the file instead of reading it"))
    mlock: bool = field(default=False, metadata=_env("SPYGLASS_GGUF_MLOCK", "lock the weights in memory"))
    mmproj: str | None = field(
        default=None,
        metadata=_env("SPYGLASS_GGUF_MMPROJ", "vision projector file (default: the mmproj*.gguf beside the model)"),
    )
    host_tensors: str | None = field(
        default=None,
        metadata=_env(
            "SPYGLASS_GGUF_HOST_TENSORS",
            "tensors kept in host memory: comma-separated patterns, e.g. `ffn_.*_exps` for MoE experts",
        ),
    )

    def __post_init__(self) -> None:
        validate(self, "gguf")


@dataclass(frozen=True)
class RemoteSettings:
    """An OpenAI-compatible server (core/engine/remote.py). Its API key is no setting: it lives in
    the OS keyring or a file only the user can read (core/secrets.py), or `API_KEY_VARIABLE`."""

    base_url: str | None = field(
        default=None,
        metadata=_env("SPYGLASS_REMOTE_URL", "the server's OpenAI-compatible base URL, e.g. `http://host:8000/v1`"),
    )
    model: str | None = field(
        default=None,
        metadata=_env("SPYGLASS_REMOTE_MODEL", "the model to ask for (default: the server's only model)"),
    )
    connect_timeout: float = field(
        default=10.0, metadata=_env("SPYGLASS_REMOTE_CONNECT_TIMEOUT", "seconds to wait for a connection")
    )
    read_timeout: float = field(
        default=120.0,
        metadata=_env(
            "SPYGLASS_REMOTE_READ_TIMEOUT", "the longest silence from the server, in seconds, while streaming"
        ),
    )
    retries: int = field(
        default=3,
        metadata=_env("SPYGLASS_REMOTE_RETRIES", "retries, with backoff, of a request refused before its first token"),
    )

    def __post_init__(self) -> None:
        validate(self, "remote")


@dataclass(frozen=True)
class ServeSettings:
    """`spyglass serve`, the OpenAI-compatible local server (core/server/)."""

    host: str = field(
        default="127.0.0.1",
        metadata=_env("SPYGLASS_SERVE_HOST", "address to listen on; one not on loopback needs `--expose` as well"),
    )
    port: int = field(default=8000, metadata=_env("SPYGLASS_SERVE_PORT", "port to listen on (0: any free port)"))
    queue: int = field(
        default=8, metadata=_env("SPYGLASS_SERVE_QUEUE", "requests that may wait behind the one running; more get 429")
    )
    allow_remote_images: bool = field(
        default=False,
        metadata=_env("SPYGLASS_SERVE_ALLOW_REMOTE_IMAGES", "fetch http(s) image URLs (default: data: URIs only)"),
    )
    max_body_bytes: int = field(
        default=64 * 1024 * 1024,
        metadata=_env("SPYGLASS_SERVE_MAX_BODY_BYTES", "largest request body in bytes; a larger one gets 413"),
    )

    def __post_init__(self) -> None:
        validate(self, "serve")


@dataclass(frozen=True)
class AgentSettings:
    """The computer-use agent (core/agent/, the window's Agent mode)."""

    max_steps: int = field(default=30, metadata=_env("SPYGLASS_AGENT_MAX_STEPS", "most steps one agent task may take"))
    monitor: int = field(
        default=0, metadata=_env("SPYGLASS_AGENT_MONITOR", "the monitor the agent sees and acts on: 0 all, 1..n one")
    )
    stop_hotkey: str | None = field(
        default=None,
        metadata=_env("SPYGLASS_AGENT_STOP_HOTKEY", "global keys that stop a task (default: `<ctrl>+<alt>+<end>`)"),
    )

    def __post_init__(self) -> None:
        validate(self, "agent")


@dataclass(frozen=True)
class Settings:
    model_dir: str | None = field(default=None, metadata=_env("SPYGLASS_MODEL", "model folder to load at start"))
    engine: str = field(
        default="auto",
        metadata=_env("SPYGLASS_ENGINE", "backend: auto (chosen from the model location), msa, gguf or remote"),
    )
    context_tokens: int = field(
        default=32768, metadata=_env("SPYGLASS_CONTEXT", "tokens of context reserved in the cache")
    )
    max_tokens: int = field(default=1024, metadata=_env("SPYGLASS_MAX_TOKENS", "longest reply in tokens"))
    temperature: float | None = field(
        default=None, metadata=_env("SPYGLASS_TEMPERATURE", "sampling temperature, 0 greedy (default: the model's)")
    )
    top_p: float | None = field(
        default=None, metadata=_env("SPYGLASS_TOP_P", "nucleus sampling (default: the model's)")
    )
    top_k: int | None = field(default=None, metadata=_env("SPYGLASS_TOP_K", "top-k sampling (default: the model's)"))
    seed: int | None = field(default=None, metadata=_env("SPYGLASS_SEED", "makes sampling repeatable"))
    think: bool | None = field(
        default=None, metadata=_env("SPYGLASS_THINK", "ask the template for a reasoning phase (true/false)")
    )
    system_prompt: str = field(
        default="", metadata=_env("SPYGLASS_SYSTEM", "system message sent first in every conversation")
    )
    models_dir: str | None = field(
        default=None,
        metadata=_env("SPYGLASS_MODELS_DIR", "where Get a model downloads to (default: models/ in the data folder)"),
    )
    data_dir: str | None = field(
        default=None, metadata=_env("SPYGLASS_DATA_DIR", "where history is kept (default: the user data folder)")
    )
    msa: MsaSettings = MsaSettings()
    gguf: GgufSettings = GgufSettings()
    remote: RemoteSettings = RemoteSettings()
    serve: ServeSettings = ServeSettings()
    agent: AgentSettings = AgentSettings()

    def __post_init__(self) -> None:
        validate(self, "")

    def history_path(self) -> Path:
        return Path(self.data_dir or user_data_dir()) / "history.sqlite3"

    def get(self, key: str) -> Any:
        """The value of a dotted key (`max_tokens`, `msa.device`)."""
        section, _, name = key.rpartition(".")
        return getattr(getattr(self, section) if section else self, name)

    def with_values(self, values: Mapping[str, Any]) -> Settings:
        """A copy with the dotted keys in `values` changed (validated like any new Settings)."""
        top = {k: v for k, v in values.items() if "." not in k}
        for name in SECTION_TYPES:
            inner = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith(name + ".")}
            if inner:
                top[name] = replace(getattr(self, name), **inner)
        unknown = sorted(k for k in values if k not in FIELDS)
        if unknown:
            raise ValueError(f"unknown settings {', '.join(unknown)}")
        return replace(self, **top)


# section name -> its dataclass: one per backend with settings of its own, and the server's
SECTION_TYPES: dict[str, type] = {
    "msa": MsaSettings,
    "gguf": GgufSettings,
    "remote": RemoteSettings,
    "serve": ServeSettings,
    "agent": AgentSettings,
}
API_KEY_VARIABLE = "SPYGLASS_REMOTE_API_KEY"  # read by `api_key_override`; never a field, never saved


def _all_fields() -> dict[str, Field]:
    out = {f.name: f for f in fields(Settings) if f.name not in SECTION_TYPES}
    for name, kind in SECTION_TYPES.items():
        out |= {f"{name}.{f.name}": f for f in fields(kind)}
    return out


FIELDS = _all_fields()  # dotted key -> dataclass field
ENV_VARS = {f.metadata["env"]: key for key, f in FIELDS.items()}
ENV_NAMES = {key: var for var, key in ENV_VARS.items()}


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


class SettingsFileError(ValueError):
    """The settings file cannot be used (unreadable, malformed, or a value not allowed); the
    message names the file. The app reports it and starts on defaults, leaving the file alone."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"settings file {path}: {problem}; fix or delete it")
        self.path = path


def parse_value(name: str, raw: str) -> object:
    """`raw`, a string from the environment, as the type of field `name` (range checks come when
    the `Settings` is made)."""
    kind = str(FIELDS[name].type)  # the annotation as written (postponed evaluation)
    text = raw.strip()
    if text == "":
        return None if "None" in kind else FIELDS[name].default
    try:
        if kind.startswith("bool"):
            if text.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(text)
            return text.lower() in ("1", "true", "yes", "on")
        if kind.startswith("int"):
            return int(text)
        if kind.startswith("float"):
            return float(text)
    except ValueError:
        word = {"bool": "true or false", "int": "a whole number", "float": "a number"}[kind.split(" ")[0]]
        raise ValueError(f"setting {name} = {shown(text)} is not allowed; it must be {word}") from None
    return text


def _parse_json(path: Path) -> object:
    """The file's JSON; every way it can fail (a folder, bad UTF-8, bad JSON, nesting deep enough
    to exhaust Python's recursion, an integer too long to convert) names the file."""
    if path.is_dir():
        raise SettingsFileError(path, "it is a folder, not a file")
    try:
        return json.loads(path.read_bytes().decode("utf-8-sig"))  # -sig: a BOM from a Windows editor
    except UnicodeDecodeError as err:
        raise SettingsFileError(path, f"it is not UTF-8 text (byte {err.start}: {err.reason})") from None
    except RecursionError:
        raise SettingsFileError(path, "its JSON is nested too deeply to read") from None
    except (OSError, ValueError) as err:  # JSONDecodeError is a ValueError, as is an over-long integer
        raise SettingsFileError(path, f"it cannot be read: {err}") from None


def read_file(path: Path) -> dict:
    """The settings file's values by dotted key, as JSON typed them (empty when there is no file);
    a malformed file raises SettingsFileError. Files written before sections existed (`device` at
    the top) still read."""
    if not path.exists():
        return {}
    data = _parse_json(path)
    if not isinstance(data, dict):
        raise SettingsFileError(path, f"it must hold a JSON object, not {type(data).__name__}")
    flat: dict[str, object] = {}
    key: str  # JSON object keys are strings
    for key, value in data.items():
        if key in SECTION_TYPES:
            if not isinstance(value, dict):
                raise SettingsFileError(path, f"'{key}' must be an object of {key} settings, not {shown(value)}")
            flat |= {f"{key}.{k}": v for k, v in value.items()}
        else:
            flat[LEGACY_KEYS.get(key, key)] = value
    unknown = sorted(set(flat) - set(FIELDS))
    if unknown:
        raise SettingsFileError(path, f"unknown settings {', '.join(k[:SHOWN_CHARS] for k in unknown)}")
    return flat


def overridden_fields(names: Iterable[str]) -> set[str]:
    """Settings fields behind override names as the app lists them (`SPYGLASS_X` or `--x`)."""
    return {ENV_VARS.get(n) or n.removeprefix("--").replace("-", "_") for n in names} & set(FIELDS)


def env_overrides(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The SPYGLASS_* variables set in `env` (default: this process's), which win over the file."""
    env = os.environ if env is None else env
    return tuple(var for var in ENV_VARS if var in env)


def flat_values(settings: Settings) -> dict[str, object]:
    """Every setting by dotted key."""
    return {key: settings.get(key) for key in FIELDS}


def api_key_override(env: Mapping[str, str] | None = None) -> str | None:
    """The remote server's API key from `API_KEY_VARIABLE`, which wins over the stored one; it is
    read here like every SPYGLASS_* variable but kept out of `Settings`, so it is never saved."""
    env = os.environ if env is None else env
    return env.get(API_KEY_VARIABLE, "").strip() or None


def read_env(env: Mapping[str, str]) -> dict:
    return {name: parse_value(name, env[var]) for var, name in ENV_VARS.items() if var in env}


def load_settings(
    cli: Mapping[str, object] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
    use_file: bool = True,
) -> Settings:
    """Defaults, overlaid by the file (unless `use_file` is False), then the environment, then CLI
    values that are not None. Each layer is validated on its own, so an error says where the bad
    value came from: SettingsFileError for the file, ValueError naming the variable or the flag.
    `env` defaults to this process's environment."""
    env = os.environ if env is None else env
    settings = Settings()
    if use_file:
        path = path or settings_path(env)
        values = read_file(path)
        try:
            settings = settings.with_values(values)
        except (TypeError, ValueError) as err:
            raise SettingsFileError(path, str(err)) from None
    given = [("environment", ENV_NAMES[k], k, v) for k, v in read_env(env).items()]
    given += [("command line", k, k, v) for k, v in (cli or {}).items() if v is not None]
    for source, name, key, value in given:
        try:
            settings = settings.with_values({key: value})
        except (TypeError, ValueError) as err:
            raise ValueError(f"{source}: {name}: {err}") from None
    return settings


def save_settings(settings: Settings, path: Path, *, keep: Iterable[str] = ()) -> Path | None:
    """Write the values that differ from the defaults, atomically (a temporary file beside it,
    flushed, then renamed over it; removed again if anything fails), each section as a nested
    object. Settings named in `keep` (in force only because the environment or the command line
    set them) keep what the file held, so a one-off override never becomes the saved choice.
    A file there that cannot be used (unreadable, or holding a value not allowed) is never overwritten: it is renamed to
    `<name>.unreadable-<time>` first and that name returned. Raises SettingsFileError naming the
    file when it cannot be written."""
    keep = set(keep)
    data = {k: v for k, v in flat_values(settings).items() if v != FIELDS[k].default and k not in keep}
    try:
        old, kept = _usable(path), None
    except SettingsFileError:
        old, kept = {}, None if path.is_dir() else _keep_unreadable(path)
    data |= {k: old[k] for k in keep if k in old}
    nested: dict[str, Any] = {}
    for key, value in sorted(data.items()):
        section, _, name = key.rpartition(".")
        (nested.setdefault(section, {}) if section else nested)[name] = value
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise SettingsFileError(path, f"the settings cannot be saved: {err}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(nested, indent=2) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        problem = "it is a folder" if path.is_dir() else str(err)
        raise SettingsFileError(path, f"the settings cannot be saved: {problem}") from None
    return kept


def _usable(path: Path) -> dict:
    """The file's values if the app could start on them, else SettingsFileError."""
    values = read_file(path)
    try:
        Settings().with_values(values)
    except (TypeError, ValueError) as err:
        raise SettingsFileError(path, str(err)) from None
    return values


def _keep_unreadable(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        aside = path.with_name(f"{path.name}.unreadable-{stamp}" + (f"-{n}" if n > 1 else ""))
        if not aside.exists():
            try:
                os.rename(path, aside)
            except OSError as err:
                raise SettingsFileError(path, f"it cannot be read and cannot be kept aside: {err}") from None
            return aside
    raise SettingsFileError(path, "it cannot be read and there is no free name to keep it under")


__all__ = [
    "AgentSettings",
    "API_KEY_VARIABLE",
    "ATTENTION_BACKENDS",
    "api_key_override",
    "DTYPES",
    "ENV_VARS",
    "env_overrides",
    "FIELDS",
    "GgufSettings",
    "INDEX_CACHES",
    "MsaSettings",
    "RemoteSettings",
    "ServeSettings",
    "Settings",
    "SettingsFileError",
    "flat_values",
    "load_settings",
    "overridden_fields",
    "read_env",
    "read_file",
    "save_settings",
    "settings_path",
    "user_config_dir",
    "user_data_dir",
]
