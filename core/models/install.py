"""Get one catalog entry (its model and projector, as one item) into the models folder.

Each entry has a folder of its own, `MODELS/<entry id>/`, holding the model GGUF and its
`mmproj-*.gguf` projector under the catalog's names, so an engine given the model's path finds
the projector beside it. Before any byte is fetched the free space is compared with what is
still missing (parts already on disk count as done) and `NotEnoughSpace` names both numbers.
Progress is reported for the item as a whole. `discard_partial` is what Cancel does after a
pause: it removes the `.part` files, never a finished file.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx2

from core.models.catalog import CatalogEntry, ModelFile
from core.models.download import DownloadedFile, download_file, open_client, part_path
from core.models.errors import NotEnoughSpace
from core.settings import user_data_dir


@dataclass(frozen=True)
class ItemProgress:
    """How far one catalog entry's download is, across its files."""

    entry_id: str
    file_name: str  # the file being fetched now
    done: int  # bytes on disk, all files of the entry
    total: int  # the entry's size


@dataclass(frozen=True)
class InstalledModel:
    entry_id: str
    model: DownloadedFile
    projector: DownloadedFile | None

    @property
    def unverified(self) -> tuple[str, ...]:
        """Names of files whose hash no one stated, so they could not be verified."""
        return tuple(f.path.name for f in (self.model, self.projector) if f is not None and f.verified_by is None)


def default_models_dir(data_dir: str | None = None) -> Path:
    """Where downloaded models go when no folder is chosen: `models/` in the user data folder."""
    return Path(data_dir or user_data_dir()) / "models"


def entry_folder(models_dir: Path, entry: CatalogEntry) -> Path:
    return models_dir / entry.id


def missing_bytes(entry: CatalogEntry, folder: Path) -> int:
    """Bytes still to fetch: finished files and the parts already on disk are not counted."""
    return sum(spec.size - _on_disk(folder / spec.name) for spec in entry.files)


def check_disk_space(folder: Path, needed: int) -> None:
    """Raise `NotEnoughSpace` when the disk holding `folder` has less than `needed` bytes free."""
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise NotEnoughSpace(str(folder), needed, free)


def download_entry(
    entry: CatalogEntry,
    models_dir: Path,
    *,
    progress: Callable[[ItemProgress], None] | None = None,
    cancel: threading.Event | None = None,
    client: httpx2.Client | None = None,
    chunk_bytes: int = 1 << 20,
) -> InstalledModel:
    """Download `entry`'s files into their folder, resuming parts; see `download_file` for the errors."""
    folder = entry_folder(models_dir, entry)
    folder.mkdir(parents=True, exist_ok=True)
    check_disk_space(folder, missing_bytes(entry, folder))
    own_client = client is None
    client = client or open_client()
    try:
        done = [_fetch_one(client, entry, spec, folder, progress, cancel, chunk_bytes) for spec in entry.files]
    finally:
        if own_client:
            client.close()
    return InstalledModel(entry.id, done[0], done[1] if len(done) > 1 else None)


def discard_partial(entry: CatalogEntry, models_dir: Path) -> None:
    """Remove the `.part` files of `entry` (a cancelled download); finished files stay."""
    folder = entry_folder(models_dir, entry)
    for spec in entry.files:
        part_path(folder / spec.name).unlink(missing_ok=True)


def _fetch_one(
    client: httpx2.Client,
    entry: CatalogEntry,
    spec: ModelFile,
    folder: Path,
    progress: Callable[[ItemProgress], None] | None,
    cancel: threading.Event | None,
    chunk_bytes: int,
) -> DownloadedFile:
    before = sum(s.size for s in entry.files[: entry.files.index(spec)])
    report = None
    if progress is not None:
        report = lambda done, _total: progress(ItemProgress(entry.id, spec.name, before + done, entry.size))
    return download_file(client, spec, folder, progress=report, cancel=cancel, chunk_bytes=chunk_bytes)


def _on_disk(final: Path) -> int:
    if final.exists():
        return final.stat().st_size
    part = part_path(final)
    return part.stat().st_size if part.exists() else 0
