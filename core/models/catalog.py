"""The catalog of small vision models Spyglass offers to download (assets/models.json).

Each entry is one model GGUF and, for vision, its projector (`mmproj-*.gguf`), downloaded as one
item into a folder of its own. The file is ours, but it is still input: every field is checked
here and a malformed catalog raises `CatalogError` naming the entry, the field and the fix, so a
bad edit fails loudly in tests instead of at a user's download. URLs must be https (plain http is
accepted only for loopback hosts, which tests use). Sizes are exact byte counts; a sha256 is
given where a public source states it and is null otherwise (the downloader then checks the
hash the server announces, or says the file could not be verified).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CATALOG_PATH = Path(__file__).resolve().parents[2] / "assets" / "models.json"
CATALOG_VERSION = 1
ROLES = ("model", "projector")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_ID = re.compile(r"[a-z0-9][a-z0-9._-]*")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.gguf")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class CatalogError(ValueError):
    """The model catalog is malformed; the message names the entry, the field and the fix."""


@dataclass(frozen=True)
class ModelFile:
    """One file of a catalog entry: where to fetch it, the name it is saved as, and what to expect."""

    role: str  # "model" or "projector"
    name: str  # saved as; a projector's name starts with "mmproj-"
    url: str
    size: int  # bytes
    sha256: str | None  # lower-case hex, or None when no public source states it


@dataclass(frozen=True)
class CatalogEntry:
    id: str  # also the name of the entry's folder under the models folder
    name: str
    licence: str
    licence_url: str
    permissive: bool  # Apache-2.0 / MIT and the like; False means terms the user should read
    good_at: str
    source: str  # the model card the facts come from
    files: tuple[ModelFile, ...]

    @property
    def model(self) -> ModelFile:
        return next(f for f in self.files if f.role == "model")

    @property
    def projector(self) -> ModelFile | None:
        return next((f for f in self.files if f.role == "projector"), None)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def load_catalog(path: Path = CATALOG_PATH) -> tuple[CatalogEntry, ...]:
    """The entries of the catalog file at `path`; `CatalogError` if it is unreadable or malformed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise CatalogError(f"cannot read the model catalog {path}: {err.strerror or err}") from err
    except json.JSONDecodeError as err:
        raise CatalogError(f"{path} is not valid JSON (line {err.lineno}, column {err.colno}): {err.msg}") from err
    return parse_catalog(data, str(path))


def parse_catalog(data: Any, origin: str = "catalog") -> tuple[CatalogEntry, ...]:
    """Validated entries from the catalog's JSON value; `origin` names it in errors."""
    if not isinstance(data, dict) or data.get("version") != CATALOG_VERSION:
        raise CatalogError(f'{origin}: expected an object with "version": {CATALOG_VERSION} and a "models" list')
    models = data.get("models")
    if not isinstance(models, list) or not models:
        raise CatalogError(f'{origin}: "models" must be a non-empty list of entries')
    entries = tuple(_entry(item, f"{origin}: models[{i}]") for i, item in enumerate(models))
    ids = [e.id for e in entries]
    if duplicates := sorted({i for i in ids if ids.count(i) > 1}):
        raise CatalogError(f"{origin}: entry ids must be unique; repeated: {', '.join(duplicates)}")
    return entries


def _entry(item: Any, where: str) -> CatalogEntry:
    if not isinstance(item, dict):
        raise CatalogError(f"{where} must be an object")
    entry_id = _text(item, "id", where)
    if not _ID.fullmatch(entry_id):
        raise CatalogError(f"{where}.id {entry_id!r} must be lower-case letters, digits, '.', '_' or '-'")
    where = f"{where} ({entry_id})"
    permissive = item.get("permissive")
    if not isinstance(permissive, bool):
        raise CatalogError(f"{where}.permissive must be true or false")
    raw_files = item.get("files")
    if not isinstance(raw_files, list) or not raw_files:
        raise CatalogError(f"{where}.files must be a non-empty list")
    files = tuple(_file(f, f"{where}.files[{i}]") for i, f in enumerate(raw_files))
    _check_roles(files, where)
    return CatalogEntry(
        id=entry_id,
        name=_text(item, "name", where),
        licence=_text(item, "licence", where),
        licence_url=_url(item, "licence_url", where),
        permissive=permissive,
        good_at=_text(item, "good_at", where),
        source=_url(item, "source", where),
        files=files,
    )


def _check_roles(files: tuple[ModelFile, ...], where: str) -> None:
    roles = [f.role for f in files]
    if roles.count("model") != 1 or roles.count("projector") > 1:
        raise CatalogError(f"{where}.files must hold exactly one model and at most one projector, got {roles}")
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise CatalogError(f"{where}.files must have different names, got {names}")


def _file(item: Any, where: str) -> ModelFile:
    if not isinstance(item, dict):
        raise CatalogError(f"{where} must be an object")
    role, name = _text(item, "role", where), _text(item, "name", where)
    if role not in ROLES:
        raise CatalogError(f"{where}.role {role!r} must be one of {', '.join(ROLES)}")
    if not _FILE_NAME.fullmatch(name):
        raise CatalogError(f"{where}.name {name!r} must be a plain file name ending in .gguf")
    if role == "projector" and not name.startswith("mmproj-"):
        raise CatalogError(f"{where}.name {name!r}: a projector is saved as mmproj-*.gguf so engines find it")
    size = item.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise CatalogError(f"{where}.size must be the file's size in bytes (a positive integer), got {size!r}")
    sha256 = item.get("sha256")
    if sha256 is not None and not (isinstance(sha256, str) and _SHA256.fullmatch(sha256)):
        raise CatalogError(f"{where}.sha256 must be 64 lower-case hex digits or null, got {sha256!r}")
    return ModelFile(role=role, name=name, url=_url(item, "url", where), size=size, sha256=sha256)


def _text(item: dict, key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CatalogError(f"{where}.{key} is missing or empty; add it as a string")
    return value.strip()


def _url(item: dict, key: str, where: str) -> str:
    url = _text(item, key, where)
    parts = urlsplit(url)
    loopback = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
    if not (parts.scheme == "https" and parts.hostname) and not loopback:
        raise CatalogError(f"{where}.{key} {url!r} must be an https:// URL")
    return url
