"""The backups of a project/environment on disk: list, read, verify (no Docker here).

A backup exists once its .meta exists (it is written last). A payload directory
without a .meta is what an interrupted backup left; prune removes it.
"""

import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..errors import PlatformError
from ..textutil import utc_timestamp
from ..fsutil import symlink_below, write_atomic
from . import layout, payload, trust

MAX_PROBLEMS_KEPT = 5


@dataclass(frozen=True)
class Backup:
    name: str
    directory: Path
    meta: dict | None           # None when the .meta cannot be read
    unreadable: str | None = None

    @property
    def meta_file(self) -> Path:
        return layout.meta_path(self.directory, self.name)

    @property
    def payload_dir(self) -> Path:
        return layout.payload_path(self.directory, self.name)

    @property
    def project(self) -> str:
        """The project whose backups directory holds this backup (not what its .meta says)."""
        return self.directory.parent.name

    def file(self, relative: str) -> Path:
        return self.payload_dir / relative

    @property
    def created_at(self) -> str | None:
        return (self.meta or {}).get("created_at")

    @property
    def total_bytes(self) -> int:
        return int((self.meta or {}).get("total_bytes") or 0)

    @property
    def images(self) -> dict:
        return (self.meta or {}).get("images") or {}

    @property
    def database(self) -> dict | None:
        return (self.meta or {}).get("database")

    @property
    def volumes(self) -> dict:
        return (self.meta or {}).get("volumes") or {}


def backups(settings, project: str, environment: str) -> list[Backup]:
    """Every backup with a .meta, newest first."""
    directory = layout.backup_dir(settings, project, environment)
    names = [p.name[: -len(layout.META_SUFFIX)] for p in directory.glob(f"backup_*{layout.META_SUFFIX}")]
    return [read(directory, name) for name in sorted(filter(layout.is_name, names), key=layout.sort_key,
                                                     reverse=True)]


def orphans(settings, project: str, environment: str) -> list[Path]:
    """Payload directories without a .meta: left by a backup that was interrupted."""
    directory = layout.backup_dir(settings, project, environment)
    return sorted(p for p in directory.glob("backup_*") if p.is_dir() and layout.is_name(p.name)
                  and not layout.meta_path(directory, p.name).exists())


def read(directory: Path, name: str) -> Backup:
    try:
        with payload.open_file(layout.meta_path(directory, name)) as handle:
            meta = json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError) as error:
        return Backup(name, Path(directory), None, f"unreadable .meta ({getattr(error, 'strerror', None) or error})")
    if not isinstance(meta, dict):
        return Backup(name, Path(directory), None, "unreadable .meta (not a JSON object)")
    return Backup(name, Path(directory), meta)


def resolve(settings, project: str, environment: str, name: str | None) -> Backup:
    """The backup called ``name``, or the newest when ``name`` is None."""
    directory = layout.backup_dir(settings, project, environment)
    if name is None:
        found = backups(settings, project, environment)
        if not found:
            raise PlatformError(f"no backups of {project}/{environment} in {directory}")
        return found[0]
    layout.check_name(name, project, environment)
    if not layout.meta_path(directory, name).exists():
        hint = ("it is incomplete (interrupted); " if layout.payload_path(directory, name).is_dir() else "")
        raise PlatformError(f"backup {name} of {project}/{environment} not found in {directory}; {hint}list the "
                            f"backups with: invoke backup.list --project {project} --env {environment}")
    return read(directory, name)


def verify_files(backup: Backup) -> list[str]:
    """Everything wrong with the backup's files: paths the .meta should not name, missing, resized, changed
    files, symlinks, archives with members that leave their volume, dumps that are not pg_dump archives."""
    problems = _layout_problems(backup)
    if problems is not None:
        return problems
    problems = trust.meta_problems(backup.meta, backup.project)
    for relative, expected in sorted(backup.meta["files"].items()):
        if trust.path_problem(relative, trust.PAYLOAD_DIRS):
            continue          # reported above; never read
        problem = _link_problem(backup, relative) or payload.check_file(
            backup.file(relative), expected if isinstance(expected, dict) else {})
        problem = problem or payload.check_content(backup.file(relative), relative)
        if problem:
            problems.append(f"{relative}: {problem}")
    return problems


def verify_files_present(backup: Backup) -> list[str]:
    """A quick look (no reading) that every file of a verified backup is still there with its size, and
    that no path the .meta names was changed into something else (a symlink, a path outside the payload)."""
    if not backup.meta_file.is_file():
        return [f"{backup.meta_file.name}: missing"]
    problems = _layout_problems(backup)
    if problems is not None:
        return problems
    problems = []
    for relative, expected in sorted(backup.meta["files"].items()):
        if trust.path_problem(relative, trust.PAYLOAD_DIRS):
            problems.append(f"{relative!r}: {trust.path_problem(relative, trust.PAYLOAD_DIRS)}")
            continue
        try:
            size = os.lstat(backup.file(relative)).st_size
        except OSError:
            problems.append(f"{relative}: missing")
            continue
        problem = _link_problem(backup, relative)
        if problem is None and size != (expected or {}).get("bytes"):
            problem = f"{size} bytes, expected {(expected or {}).get('bytes')}"
        if problem:
            problems.append(f"{relative}: {problem}")
    return problems


def unchanged_since_verified(backup: Backup) -> list[str]:
    """verify_files_present plus every path check of the .meta: what the restore looks at just before it
    writes (the full verification ran moments before)."""
    return verify_files_present(backup) or trust.meta_problems(backup.meta, backup.project)


@contextmanager
def checked_chunks(backup: Backup, relative: str, progress=None):
    """The chunks of payload file ``relative`` (a volume archive, a dump) as the restore streams them: read
    from a private copy, checked just now against the .meta like verify_files checks the file.

    The restore verified the whole backup moments before, but whoever can write the backups directory can
    swap a file since. Checking the stream on its way to the engine would come too late: an archive's links
    are judged only once all of it is read, while Docker extracts as it receives, and pg_restore may finish
    (and psql commit) before the stream ends. So the file is copied, hashed as it is copied, into an unnamed
    temporary file in the backup's directory (same disk, memory bounded; no path leads to it, so no one
    can swap it), checked there, and that copy is streamed. A mismatch raises before anything is written.
    ``progress(bytes streamed, file size)``, when given, follows the stream.
    """
    files = backup.meta.get("files") if isinstance((backup.meta or {}).get("files"), dict) else {}
    expected = files.get(relative)
    problem = (trust.path_problem(relative, trust.PAYLOAD_DIRS) or _link_problem(backup, relative)
               or (None if isinstance(expected, dict) else "has no checksum in the .meta"))
    with tempfile.TemporaryFile(dir=backup.directory) as copy:
        problem = (problem or payload.copy_checked(backup.file(relative), expected, copy)
                   or payload.content_problem(relative, copy))
        if problem:
            raise PlatformError(f"{relative} of backup {backup.name} changed since it was verified: {problem}; "
                                "not written")
        size = copy.seek(0, os.SEEK_END)
        copy.seek(0)
        chunks = payload.chunks_of(copy)
        yield chunks if progress is None else payload.counted(chunks, progress, size)


def _layout_problems(backup: Backup) -> list[str] | None:
    """The problems that stop any further look at the files (None when there are none)."""
    if backup.meta is None:
        return [f"{backup.meta_file.name}: {backup.unreadable or 'missing'}"]
    if not isinstance(backup.meta.get("files"), dict):
        return [f"{backup.meta_file.name}: made by an older version (images only, no checksums)"]
    if os.path.islink(backup.payload_dir) or not backup.payload_dir.is_dir():
        return [f"{backup.payload_dir}: missing or a symlink"]
    return None


def _link_problem(backup: Backup, relative: str) -> str | None:
    link = symlink_below(backup.payload_dir, relative)
    return f"{link} is a symlink (a backup's files are never followed)" if link else None


def verify(backup: Backup, image_of, repositories: dict) -> list[str]:
    """verify_files plus the images: ``image_of(image_id)`` is the local image (engine.ImageInfo) or None;
    ``repositories`` {role: repository} of the project now, which each role's image must be of."""
    problems = verify_files(backup)
    for role in sorted(backup.images):
        problem = image_problem(backup, role, image_of, repositories.get(role))
        if problem:
            problems.append(problem)
    return problems


def image_problem(backup: Backup, role: str, image_of, repository: str | None) -> str | None:
    """Why the image the backup recorded for ``role`` cannot be deployed as ``repository`` (None: it can, or the
    role is not the project's any more, so it is not deployed)."""
    image = backup.images[role] if isinstance(backup.images[role], dict) else {}
    image_id = image.get("image_id")
    found = image_of(image_id) if isinstance(image_id, str) and image_id else None
    if found is None:
        return f"image of {role} ({image.get('image')}, {str(image_id)[:19]}) is no longer on this machine"
    why = trust.image_problem(found, repository) if repository else None
    return f"image of {role} ({image_id[:19]}) {why}" if why else None


def record_verification(backup: Backup, problems: list[str], now: datetime | None = None) -> None:
    """Keep the outcome in the .meta, for `backup.list`."""
    if backup.meta is None:
        return
    meta = dict(backup.meta)
    meta["verification"] = {
        "at": utc_timestamp(now),
        "ok": not problems,
        "problems": problems[:MAX_PROBLEMS_KEPT],
    }
    write_atomic(backup.meta_file, json.dumps(meta, indent=2) + "\n", mode=0o600)


def verified_state(backup: Backup) -> str:
    """One word or phrase for the list: ok/FAILED with the date, or not verified."""
    if backup.meta is None:
        return "UNREADABLE"
    if not isinstance(backup.meta.get("files"), dict):
        return "old format"
    verification = backup.meta.get("verification")
    if not isinstance(verification, dict):
        return "not verified"
    return f"{'ok' if verification.get('ok') else 'FAILED'} {verification.get('at', '?')}"


def describe(problems: list[str]) -> str:
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    return f"{problems[0]}{more}"
