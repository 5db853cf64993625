"""Getting a model: the catalog of small vision GGUF models and a resumable, verified downloader (no Qt)."""

from core.models.catalog import CATALOG_PATH, CatalogEntry, CatalogError, ModelFile, load_catalog, parse_catalog
from core.models.download import DownloadedFile, RemoteInfo, announced_sha256, download_file, open_client, part_path
from core.models.errors import Cancelled, DownloadError, NotEnoughSpace, VerificationError
from core.models.install import (
    InstalledModel,
    ItemProgress,
    check_disk_space,
    default_models_dir,
    discard_partial,
    download_entry,
    entry_folder,
    missing_bytes,
)

__all__ = [
    "CATALOG_PATH",
    "Cancelled",
    "CatalogEntry",
    "CatalogError",
    "DownloadError",
    "DownloadedFile",
    "InstalledModel",
    "ItemProgress",
    "ModelFile",
    "NotEnoughSpace",
    "RemoteInfo",
    "VerificationError",
    "announced_sha256",
    "check_disk_space",
    "default_models_dir",
    "discard_partial",
    "download_entry",
    "download_file",
    "entry_folder",
    "load_catalog",
    "missing_bytes",
    "open_client",
    "parse_catalog",
    "part_path",
]
