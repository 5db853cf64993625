"""Ingestion: what people drop or capture, turned into parts the model can read.

`ingest_path` reads PDFs, images and videos (chosen by content) in a bounded child process;
`plan_parts` decides, without side effects, what of a message fits an engine's context and media
plan and lists what it left out. Screen capture lives in `core.desktop`.
"""

from core.ingest.dispatch import ingest_path
from core.ingest.errors import (
    BadPageRange,
    Cancelled,
    DamagedFile,
    EmptyFile,
    EncryptedFile,
    IngestError,
    ParserCrashed,
    TimedOut,
    TooLarge,
    UnreadableFile,
    UnsupportedFormat,
)
from core.ingest.limits import Limits
from core.ingest.planner import Plan, PlanError, plan_parts
from core.ingest.progress import Ingested, IngestProgress

__all__ = [
    "BadPageRange",
    "Cancelled",
    "DamagedFile",
    "EmptyFile",
    "EncryptedFile",
    "IngestError",
    "IngestProgress",
    "Ingested",
    "Limits",
    "ParserCrashed",
    "Plan",
    "PlanError",
    "TimedOut",
    "TooLarge",
    "UnreadableFile",
    "UnsupportedFormat",
    "ingest_path",
    "plan_parts",
]
