"""Text as the tool shows and records it: one line, bounded, UTC timestamps."""

import re
from datetime import datetime, timezone

TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"
FILE_STAMP = "%Y%m%d_%H%M%S"    # in file names: backup_20250106_120000, manifest.corrupt-20250106_120000.json


# Terminal escape sequences (CSI ``ESC [ ... final``, OSC ``ESC ] ... BEL/ST``, two-byte ``ESC x``), then any
# C0 control but newline and tab, DEL and the C1 controls (U+0080-U+009F: U+009B alone starts a CSI), and
# the invisible format characters that reorder or hide text: bidi marks, embeddings, overrides and isolates
# (U+061C, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069: "Trojan Source"), zero-width spaces and joiners
# (U+200B-U+200D, U+2060-U+2064, U+FEFF). Emoji keep their variation selectors; a ZWJ sequence shows its
# emoji side by side.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def printable(text) -> str:
    """``text`` safe to print and record: escape sequences, control and invisible format characters removed,
    newlines and tabs kept.

    Everything that came from a container (logs, command output, engine messages) goes through it
    before it reaches a terminal, a manifest or a journal: a container must not clear the operator's
    screen, retitle the terminal or rewrite what an earlier line said (``\r``).
    """
    return _CONTROLS.sub("", _ESCAPES.sub("", str(text)))


def one_line(text: str, limit: int | None = None) -> str:
    """``text`` with every run of whitespace (newlines included) made one space; at most ``limit`` characters.

    Control characters and escape sequences are removed (see ``printable``).
    A negative ``limit`` keeps the end instead (the last lines of a tool's output say why it failed).
    """
    flat = " ".join(printable(text).split())
    if limit is None:
        return flat
    return flat[limit:] if limit < 0 else flat[:limit]


def utc_timestamp(now: datetime | None = None, form: str = TIMESTAMP) -> str:
    """``now`` (default: this instant) as recorded in manifests, journals and backups: 2025-01-06T12:00:00Z."""
    return (now or datetime.now(timezone.utc)).strftime(form)


def byte_size(count: float) -> str:
    """Bytes in the largest unit that keeps a number of at least 1, e.g. ``8.4 MB``."""
    for unit in ("B", "KB", "MB"):
        if count < 1000:
            return f"{count:.0f} B" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"


def table(rows: list[tuple]) -> list[str]:
    """``rows`` (the first is the header) as indented, left-aligned columns."""
    widths = [max(len(str(row[column])) for row in rows) for column in range(len(rows[0]))]
    return [("  " + "  ".join(f"{cell:<{width}}" for cell, width in zip(row, widths))).rstrip() for row in rows]
