"""Text as the tool shows and records it: one line, bounded, UTC timestamps."""

from datetime import datetime, timezone

TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"
FILE_STAMP = "%Y%m%d_%H%M%S"    # in file names: backup_20250106_120000, manifest.corrupt-20250106_120000.json


def one_line(text: str, limit: int | None = None) -> str:
    """``text`` with every run of whitespace (newlines included) made one space; at most ``limit`` characters.

    A negative ``limit`` keeps the end instead (the last lines of a tool's output say why it failed).
    """
    flat = " ".join(str(text).split())
    if limit is None:
        return flat
    return flat[limit:] if limit < 0 else flat[:limit]


def utc_timestamp(now: datetime | None = None, form: str = TIMESTAMP) -> str:
    """``now`` (default: this instant) as recorded in manifests, journals and backups: 2025-01-06T12:00:00Z."""
    return (now or datetime.now(timezone.utc)).strftime(form)
