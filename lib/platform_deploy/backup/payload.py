"""Payload files of a backup: written once (0600, fsynced), hashed as they are written, checked later.

Data is streamed in chunks; nothing holds a whole file in memory.
"""

import errno
import hashlib
import os
from contextlib import contextmanager
from pathlib import Path

from ..fsutil import open_regular
from . import layout, trust

CHUNK = 1024 * 1024


class PayloadWriter:
    """Writes files under ``root`` and remembers {relative path: {"bytes", "sha256"}}; ``progress(bytes)``,
    when given, hears how many bytes it has written so far, all files together."""

    def __init__(self, root: Path, progress=None):
        self.root = Path(root)
        self.files: dict[str, dict] = {}
        self.progress = progress
        self.written = 0

    @contextmanager
    def open(self, relative: str):
        """Yield ``write(chunk)``; on a clean exit the file is flushed to disk and recorded.

        Each chunk is hashed and written as it comes (measured: as fast as Docker's archive
        API delivers a volume; a writer thread was slower on two CPUs).
        """
        path = self.root / relative
        _make_dirs(self.root, path.parent)
        digest, size = hashlib.sha256(), 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb", buffering=0) as handle:
            def write(chunk: bytes) -> None:
                nonlocal size
                view = memoryview(chunk)
                while view:                       # an unbuffered write may write less than asked
                    view = view[handle.write(view):]
                digest.update(chunk)
                size += len(chunk)
                self.written += len(chunk)
                if self.progress is not None:
                    self.progress(self.written)

            yield write
            os.fsync(handle.fileno())
        self.files[relative] = {"bytes": size, "sha256": digest.hexdigest()}

    def write_bytes(self, relative: str, data: bytes) -> None:
        with self.open(relative) as write:
            write(data)

    def copy_file(self, relative: str, source: Path) -> None:
        with open_file(source) as handle, self.open(relative) as write:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                write(chunk)

    def sync_dirs(self) -> None:
        """fsync every directory of the payload so the new names survive a power loss."""
        for directory in [self.root, *(p for p in self.root.rglob("*") if p.is_dir())]:
            fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    @property
    def total_bytes(self) -> int:
        return sum(info["bytes"] for info in self.files.values())


def _make_dirs(root: Path, directory: Path) -> None:
    missing = []
    while directory != root and not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700)


def open_file(path: Path):
    """``path`` opened for reading in binary, refused when it is a symlink or not a regular file."""
    return os.fdopen(open_regular(path), "rb")


def read_chunks(path: Path):
    """The bytes of ``path`` in CHUNK-sized pieces (a symlink or special file there is refused)."""
    with open_file(path) as handle:
        yield from chunks_of(handle)


def chunks_of(handle):
    """The rest of the binary file ``handle`` in CHUNK-sized pieces."""
    return iter(lambda: handle.read(CHUNK), b"")


def counted(chunks, progress, total: int | None):
    """``chunks`` as they are, telling ``progress(bytes so far, total)`` after each."""
    done = 0
    for chunk in chunks:
        yield chunk
        done += len(chunk)
        progress(done, total)


def check_file(path: Path, expected: dict) -> str | None:
    """Why ``path`` does not match its record ``{"bytes", "sha256"}`` (None when it does)."""
    return copy_checked(path, expected)


def copy_checked(path: Path, expected: dict, copy=None) -> str | None:
    """check_file, writing what it reads to the binary file ``copy`` too (when given; left at its start).

    A failure to write the copy (a full disk) is raised, not reported as a problem of ``path``.
    """
    digest, size = hashlib.sha256(), 0
    try:
        source = open_file(path)
    except FileNotFoundError:
        return "missing"
    except OSError as error:
        return f"cannot read: {_refusal(error)}"
    with source:
        for chunk in chunks_of(source):
            if copy is not None:
                copy.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    if copy is not None:
        copy.flush()
        copy.seek(0)
    if size != expected.get("bytes"):
        return f"{size} bytes, expected {expected.get('bytes')}"
    if digest.hexdigest() != expected.get("sha256"):
        return "SHA-256 checksum mismatch (the file changed after the backup)"
    return None


def content_problem(relative: str, handle) -> str | None:
    """Why the payload file ``relative``, read from ``handle``, is not what its place holds: a volume archive we
    may extract, a pg_dump custom-format file (None when it is, or the place has no such check)."""
    if relative.startswith(f"{layout.VOLUMES}/"):
        return trust.archive_problem(handle)
    if relative.startswith(f"{layout.DATABASE}/"):
        return trust.dump_problem(handle.read(trust.DUMP_HEADER))
    return None


def check_content(path: Path, relative: str) -> str | None:
    """content_problem of the file at ``path``."""
    try:
        with open_file(path) as handle:
            return content_problem(relative, handle)
    except OSError as error:
        return f"cannot read: {_refusal(error)}"


def check_volume_archive(path: Path) -> str | None:
    """Why ``path`` is not a volume archive we may extract (None when it is); reads headers only."""
    return check_content(path, f"{layout.VOLUMES}/")


def check_dump(path: Path) -> str | None:
    """Why ``path`` is not a pg_dump custom-format file (None when it is)."""
    return check_content(path, f"{layout.DATABASE}/")


def _refusal(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "it is a symlink (a backup's files are never followed)"
    return error.strerror or str(error)
