"""Typed ingestion errors: one class per problem, each naming the file and what is wrong with it.

They subclass `ValueError` (bad input, not a bug) through `IngestError`, so a caller can catch
every ingestion problem at once and show its message as it is. They cross the process boundary
of the sandbox, so each pickles with the two fields it was built from.
"""

from __future__ import annotations


class IngestError(ValueError):
    """A file could not be read into parts; `str(error)` names the file and the problem."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem

    def __reduce__(self):
        return (type(self), (self.path, self.problem))


class UnreadableFile(IngestError):
    """The file is missing, is a folder, or cannot be opened."""


class EmptyFile(IngestError):
    """The file has no bytes."""


class UnsupportedFormat(IngestError):
    """The content is none of the formats Spyglass reads (decided from its bytes, not its name)."""


class TooLarge(IngestError):
    """The file exceeds a byte, pixel, page or memory limit (see `Limits`)."""


class DamagedFile(IngestError):
    """The content is truncated, corrupt or otherwise not decodable."""


class EncryptedFile(IngestError):
    """The PDF needs a password."""


class BadPageRange(IngestError):
    """The page range asked for lies outside the document, or was given for a file without pages."""


class TimedOut(IngestError):
    """The parser stopped making progress within the time bound and was stopped."""


class ParserCrashed(IngestError):
    """The parser's child process died (a native crash or the memory bound)."""


class Cancelled(IngestError):
    """The caller's cancel flag was set while the file was being read."""
