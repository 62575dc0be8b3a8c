"""Where a backup lives and what it is called (pure, apart from reserving a name with mkdir).

Under $PLATFORM_BACKUPS_DIR/<project>/<environment>/ (each of them 0700):
    backup_YYYYMMDD_HHMMSS.meta    JSON metadata (0600), readable with `cat`; written last
    backup_YYYYMMDD_HHMMSS/        the payload (0700): volumes/*.tar, database/*.dump, config/...
Image tags are <repository>:<backup name>-<environment>, so staging and production
never share one.
"""

import re
from datetime import datetime
from pathlib import Path

from ..errors import PlatformError
from ..fsutil import private_dirs
from ..textutil import FILE_STAMP, utc_timestamp

NAME = re.compile(r"^backup_(\d{8}_\d{6})(?:_(\d{1,2}))?$")
META_SUFFIX = ".meta"
PENDING_TAGS = ".pending-tags.json"   # in the payload while its image tags are being made
VOLUMES, DATABASE, CONFIG = "volumes", "database", "config"


def backup_dir(settings, project: str, environment: str) -> Path:
    return Path(settings.backups_dir) / project / environment


def meta_path(directory: Path, name: str) -> Path:
    return Path(directory) / f"{name}{META_SUFFIX}"


def payload_path(directory: Path, name: str) -> Path:
    return Path(directory) / name


def image_tag(name: str, environment: str) -> str:
    return f"{name}-{environment}"


def is_name(name: str) -> bool:
    return bool(NAME.match(name or ""))


def check_name(name: str, project: str, environment: str) -> str:
    """``name`` when it is a backup name, else a PlatformError (it becomes a path part)."""
    if not is_name(name):
        raise PlatformError(f"{name!r} is not a backup name (backup_YYYYMMDD_HHMMSS); list them with "
                            f"invoke backup.list --project {project} --env {environment}")
    return name


def sort_key(name: str) -> tuple[str, int]:
    """Chronological order of backup names: the stamp, then the same-second suffix (_2, _3, ...)."""
    match = NAME.match(name)
    return match.group(1), int(match.group(2) or 1)


def reserve_name(top: Path, directory: Path, now: datetime | None = None, taken=lambda name: False) -> str:
    """A fresh backup name whose payload directory now exists (mkdir is atomic).

    ``directory`` (below ``top``, the backups directory) and every directory between
    them are made 0700. Two backups in one second get different names;
    ``taken(name)`` rejects a name that is free here but used elsewhere (an image tag
    of another project sharing the repository).
    """
    directory = private_dirs(top, directory)
    stamp = f"backup_{utc_timestamp(now, FILE_STAMP)}"
    for suffix in [""] + [f"_{n}" for n in range(2, 100)]:
        name = stamp + suffix
        if meta_path(directory, name).exists() or taken(name):
            continue
        try:
            payload_path(directory, name).mkdir(mode=0o700)
        except FileExistsError:
            continue
        return name
    raise PlatformError(f"more than 99 backups in one second in {directory}; wait a second and try again")
