"""The conversation as every front end shares it, with no Qt (SPEC: Conversation)."""

from .attachments import Attachment, AttachmentCache, estimate, file_digest, read_attachment
from .conversation import STATUS, Conversation, Prepared, Turn, prepare, prepare_for, text_counter

__all__ = [
    "STATUS",
    "Attachment",
    "AttachmentCache",
    "Conversation",
    "Prepared",
    "Turn",
    "estimate",
    "file_digest",
    "prepare",
    "prepare_for",
    "read_attachment",
    "text_counter",
]
