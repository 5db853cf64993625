"""A remote server's API key, kept out of settings.json and out of every log.

The key is stored per server URL: in the OS keyring (the `keyring` package; service "spyglass",
the normalized URL as the user name) when the system has one, otherwise in a file only the user
can read, `<config dir>/secrets/<sha256 of the URL>`, written with mode 0600 inside a 0700
folder (on Windows, where modes mean little, the user's profile folder protects it). The
variable `SPYGLASS_REMOTE_API_KEY` (read in core/settings.py) wins over what is stored, for
headless runs. Nothing here logs a key; the functions log which store they used.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from core.settings import api_key_override, user_config_dir

log = logging.getLogger(__name__)
SERVICE = "spyglass"


def _url(base_url: str) -> str:
    return base_url.strip().rstrip("/")


def _keyring():  # noqa: ANN202 - keyring's backend type, imported lazily
    """The OS keyring, or None where there is none (keyring's `fail` backend, or no package)."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    backend = keyring.get_keyring()
    return None if isinstance(backend, fail.Keyring) else backend


def secret_file(base_url: str, env: Mapping[str, str] | None = None) -> Path:
    """Where the key for `base_url` lives when there is no keyring."""
    digest = hashlib.sha256(_url(base_url).encode()).hexdigest()[:32]
    folder = user_config_dir() if env is None else user_config_dir(env)
    return folder / "secrets" / digest


def get_api_key(base_url: str, env: Mapping[str, str] | None = None) -> str | None:
    """The key for `base_url`: the environment's, else the keyring's, else the file's, else None."""
    override = api_key_override(env)
    if override:
        return override
    ring = _keyring()
    if ring is not None:
        return ring.get_password(SERVICE, _url(base_url)) or None
    path = secret_file(base_url, env)
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None
    except OSError as err:
        raise OSError(f"the API key file {path} cannot be read: {err.strerror}") from None


def set_api_key(base_url: str, key: str | None, env: Mapping[str, str] | None = None) -> str:
    """Store (or, with an empty key, forget) the key for `base_url`; returns where it went."""
    key = (key or "").strip()
    ring = _keyring()
    if ring is not None:
        if key:
            ring.set_password(SERVICE, _url(base_url), key)
        else:
            from keyring.errors import PasswordDeleteError

            with contextlib.suppress(PasswordDeleteError):  # there was none
                ring.delete_password(SERVICE, _url(base_url))
        where = f"the {type(ring).__name__} keyring"
    else:
        path = secret_file(base_url, env)
        _write_private(path, key) if key else path.unlink(missing_ok=True)
        where = str(path)
    log.info("API key for %s %s %s", _url(base_url), "stored in" if key else "removed from", where)
    return where


def _write_private(path: Path, key: str) -> None:
    """Write `key` to `path`, readable by the user alone from the first byte (0600 in 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)  # an existing folder made by something else is narrowed too
    fd, tmp = tempfile.mkstemp(prefix=".key-", dir=path.parent)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(key)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        raise
