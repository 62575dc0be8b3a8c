"""Small filesystem helpers shared by everything that writes state."""

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

PARTIAL_PREFIX, PARTIAL_SUFFIX = ".tmp-", ".partial"


def write_atomic(path: Path, data: bytes | str, mode: int = 0o644, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never a partial one.

    ``durable`` also survives power loss (fsync); regenerable files can skip it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    # A short temporary name: path.name may already be near the 255-byte limit.
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=PARTIAL_PREFIX, suffix=PARTIAL_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def remove_partials(directory: Path) -> list[str]:
    """Remove the temporary files of writes that were killed half-way in ``directory``; return their names.

    Only safe while no other process writes there (the caller holds the lock).
    """
    removed = []
    for temp in Path(directory).glob(f"{PARTIAL_PREFIX}*{PARTIAL_SUFFIX}"):
        temp.unlink(missing_ok=True)
        removed.append(temp.name)
    return removed


def private_dirs(top: Path, path: Path) -> Path:
    """Make ``top``, ``path`` (below it) and every directory between them exist with mode 0700; return ``path``.

    Directories an older version made looser are tightened (when this user owns them).
    """
    top, path = Path(top), Path(path)
    directory = top
    for part in ("", *path.relative_to(top).parts):
        directory = directory / part if part else directory
        directory.mkdir(parents=True, mode=0o700, exist_ok=True)
        if directory.stat().st_mode & 0o077:
            with contextlib.suppress(OSError):
                directory.chmod(0o700)
    return path


def open_regular(path: Path) -> int:
    """A read-only descriptor of ``path``, refusing a symlink, a device, a FIFO or a directory there.

    O_NOFOLLOW refuses a symlink as the last part (ELOOP); O_NONBLOCK keeps a FIFO from blocking the open.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    os.set_blocking(fd, True)
    return fd


def symlink_below(root: Path, relative: str) -> str | None:
    """The first part of ``root/relative`` below ``root`` that is a symlink (relative to root), else None.

    Parts that do not exist end the walk: nothing below them can be a symlink.
    """
    path = Path(root)
    for part in Path(relative).parts:
        path = path / part
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return str(path.relative_to(root))
        except FileNotFoundError:
            return None
    return None
