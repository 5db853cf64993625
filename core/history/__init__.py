"""Conversation history on disk (SQLite, WAL, synchronous=FULL, versioned schema); no Qt."""

from .schema import VERSION, SchemaError
from .store import AttachmentRecord, Conversation, HistoryStore, StoredMessage

__all__ = ["VERSION", "AttachmentRecord", "Conversation", "HistoryStore", "SchemaError", "StoredMessage"]
