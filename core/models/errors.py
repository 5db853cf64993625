"""Errors of getting a model; each message names what went wrong and what to do about it.

They are plain exceptions (no Qt) so they cross the thread boundary as messages: the dialog
shows `str(err)`. `Cancelled` is not a failure: it ends a paused or cancelled download and
leaves the `.part` file for a later resume.
"""

from __future__ import annotations


class DownloadError(Exception):
    """A download could not finish (network, server answer, file system); the message says how to go on."""


class Cancelled(DownloadError):
    """The download was paused or cancelled between two chunks; the `.part` file is kept."""


class NotEnoughSpace(DownloadError):
    """The models folder's disk lacks room for the files; nothing was written."""

    def __init__(self, folder: str, needed: int, free: int) -> None:
        super().__init__(
            f"Not enough disk space in {folder}: the download needs {_size(needed)} but only {_size(free)} "
            "is free. Free up space or choose another models folder."
        )
        self.folder, self.needed, self.free = folder, needed, free


class VerificationError(DownloadError):
    """A downloaded file's size or sha256 is not what was expected; the file was removed."""


def _size(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"
