"""Conversation history on disk (SQLite, WAL, synchronous=FULL, versioned schema); no Qt."""

from .agent_log import AgentStepRecord, AgentTaskRecord
from .recovery import Opened, Restored, Salvage, open_history, read_salvage, restore
from .schema import VERSION, DamagedError, ForeignFileError, SchemaError
from .store import AttachmentRecord, Conversation, HistoryStore, StoredMessage

__all__ = [
    "VERSION",
    "AgentStepRecord",
    "AgentTaskRecord",
    "AttachmentRecord",
    "Conversation",
    "DamagedError",
    "ForeignFileError",
    "HistoryStore",
    "Opened",
    "Restored",
    "Salvage",
    "SchemaError",
    "StoredMessage",
    "open_history",
    "read_salvage",
    "restore",
]
