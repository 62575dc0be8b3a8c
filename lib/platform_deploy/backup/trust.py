"""What a backup directory may hold, checked before anything of it is trusted (pure: no Docker, no writes).

A backup directory is data from disk: a copy from another host, a hand edit or a
crafted one reads the same as one this tool made. So `backup.verify` and the
restore (before it writes anything) check, besides the checksums:
  - every path the .meta names is relative, without `..`, under volumes/,
    database/ or config/ of the payload, and every file the restore reads is in
    the checksum list;
  - the env files it would write back are the project's own (config/<project>/);
  - every member of a volume archive stays in its volume: no absolute name, no
    `..`, `.` or empty part, no symlink or hard link leading out of it (symlinks are followed
    through the archive's own links), no device or FIFO, no setuid/setgid file.
"""

import posixpath
import stat
import tarfile
from pathlib import PurePosixPath

from . import layout

TAR_TOP = "platform-volume"   # the top entry of a volume archive (engine.docker.HELPER_MOUNT)
PAYLOAD_DIRS = (layout.VOLUMES, layout.DATABASE, layout.CONFIG)
ENV_STORE = f"{layout.CONFIG}/env/"
MAX_LINK_HOPS = 40            # like the kernel's: more is a loop


def path_problem(relative, under: tuple[str, ...]) -> str | None:
    """Why ``relative`` is not a clean relative path below one of ``under`` (None when it is)."""
    if not isinstance(relative, str) or not relative:
        return "is not a path"
    parts = relative.split("/")
    if relative.startswith("/"):
        return "is an absolute path"
    if ".." in parts:
        return "has a '..' part"
    if any(part in ("", ".") for part in parts) or "\\" in relative or "\0" in relative:
        return "is not a plain relative path"
    if not any(relative.startswith(prefix.rstrip("/") + "/") for prefix in under):
        return f"is not under {' or '.join(prefix.rstrip('/') + '/' for prefix in under)}"
    return None


def meta_problems(meta: dict, project: str) -> list[str]:
    """Everything wrong with the paths a backup's .meta names (``project``: whose backups directory it is in)."""
    files = meta.get("files") if isinstance(meta.get("files"), dict) else {}
    problems = [f"{_show(name)}: listed in the .meta's checksums but {why}" for name in sorted(files, key=str)
                if (why := path_problem(name, PAYLOAD_DIRS))]
    for what, relative, under in _references(meta):
        why = path_problem(relative, under)
        if why is None and relative not in files:
            why = "has no checksum in the .meta"
        if why:
            problems.append(f"{_show(relative)}: the .meta's {what} {why}")
    own = f"{layout.CONFIG}/{project}/"
    for destination in sorted(_env_files(meta), key=str):
        why = path_problem(destination, (own,))
        if why:
            problems.append(f"{_show(destination)}: the .meta would write this env file, which {why} "
                            f"(only {project}'s own env files are restored)")
    return problems


def _references(meta: dict):
    """(what, payload path, the directories it must be in) of every payload file the .meta points at."""
    for volume, info in sorted((meta.get("volumes") or {}).items()):
        yield f"volume {_show(volume)}", _get(info, "file"), (layout.VOLUMES,)
    if meta.get("database"):
        yield "database dump", _get(meta["database"], "file"), (layout.DATABASE,)
    for destination, stored in sorted(_env_files(meta).items(), key=str):
        if stored is not None:
            yield f"copy of {_show(destination)}", stored, (ENV_STORE,)
    config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    if config.get("nginx"):
        yield "nginx config", _get(config["nginx"], "stored"), (layout.CONFIG,)
    if config.get("projects_entry"):
        yield "projects.yml entry", config["projects_entry"], (layout.CONFIG,)


def _env_files(meta: dict) -> dict:
    config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    found = config.get("env_files")
    return found if isinstance(found, dict) else {}


def _get(info, key):
    return info.get(key) if isinstance(info, dict) else None


def archive_problem(handle) -> str | None:
    """Why the volume archive read from ``handle`` (a binary file) must not be extracted (None when fine).

    Reads the headers only. Symlinks are checked after the whole archive is read, through its other links.
    """
    links = {}
    try:
        with tarfile.open(fileobj=handle, mode="r:") as archive:
            for member in archive:
                why = member_problem(member)
                if why:
                    return f"member {_show(member.name)} {why}"
                if member.issym():   # stored under the name lookups use (link_leaves builds normal paths)
                    links[posixpath.normpath(member.name)] = member.linkname
    except (tarfile.TarError, OSError, EOFError) as error:
        return f"not a readable tar archive ({error})"
    for name, target in sorted(links.items()):
        if link_leaves(name, target, links):
            return f"member {_show(name)} is a symlink to {_show(target)}, which leaves the volume"
    return None


def member_problem(member: tarfile.TarInfo) -> str | None:
    """What is wrong with one archive member by itself (its symlink target is checked by link_leaves)."""
    why = _name_problem(member.name)
    if why:
        return why
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        return f"is a {_KINDS.get(member.type, 'special file')}, which a volume backup never holds"
    if not member.isdir() and member.mode & (stat.S_ISUID | stat.S_ISGID):
        return "has the setuid or setgid bit"
    if member.islnk() and _name_problem(member.linkname):
        return f"is a hard link to {_show(member.linkname)}, which leaves the volume"
    return None


_KINDS = {tarfile.CHRTYPE: "character device", tarfile.BLKTYPE: "block device", tarfile.FIFOTYPE: "FIFO",
          tarfile.CONTTYPE: "contiguous file"}


def _name_problem(name: str) -> str | None:
    if name.startswith("/"):
        return "has an absolute name"
    parts = PurePosixPath(name).parts
    if ".." in name.split("/"):
        return "has a '..' part: it leaves the volume"
    if not parts or parts[0] != TAR_TOP:
        return f"is not under {TAR_TOP}/"
    if any(part in ("", ".") for part in name.removesuffix("/").split("/")):
        return "is not a plain path (a '.' or empty part)"   # one file, one spelling: see link_leaves
    return None


def link_leaves(name: str, target: str, links: dict) -> bool:
    """Whether symlink ``name`` -> ``target`` resolves outside TAR_TOP, following the archive's ``links``."""
    pending = posixpath.dirname(name).split("/") + target.split("/")
    resolved, hops = [], 0
    if target.startswith("/"):
        return True
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if len(resolved) <= 1:
                return True
            resolved.pop()
            continue
        resolved.append(part)
        link = links.get("/".join(resolved))
        if link is not None:
            hops += 1
            if hops > MAX_LINK_HOPS or link.startswith("/"):
                return True
            resolved.pop()
            pending = link.split("/") + pending
    return not resolved or resolved[0] != TAR_TOP


def _show(value) -> str:
    return repr(str(value)[:80])


def image_problem(image, repository: str) -> str | None:
    """Why the local ``image`` (an engine.ImageInfo) is not one of ``repository`` (None when one of its tags or
    digests names it). A .meta's image id is data: it could name another tenant's image or the platform's."""
    if _familiar(repository) in {_familiar(_repository_of(name)) for name in (*image.tags, *image.digests)}:
        return None
    return f"carries no tag or digest of {repository}: it is not the project's image"


def _repository_of(reference: str) -> str:
    """``repo`` of ``repo:tag`` or ``repo@sha256:...`` (a registry's port is not a tag)."""
    name = reference.partition("@")[0]
    colon = name.rfind(":")
    return name[:colon] if colon > name.rfind("/") else name


def _familiar(repository: str) -> str:
    """Docker Hub's names as Docker shows them: docker.io/library/nginx is nginx."""
    for prefix in ("docker.io/", "index.docker.io/"):
        repository = repository.removeprefix(prefix)
    return repository.removeprefix("library/") if repository.count("/") == 1 else repository


DUMP_MAGIC = b"PGDMP"
DUMP_HEADER = 11              # magic, version (3 bytes), int size, offset size, format
CUSTOM_FORMAT = 1             # pg_backup_archiver.h: archCustom


def dump_problem(header: bytes) -> str | None:
    """Why ``header`` (the first DUMP_HEADER bytes of a file) is not a pg_dump custom-format archive."""
    if len(header) < DUMP_HEADER or not header.startswith(DUMP_MAGIC):
        return "not a pg_dump custom-format file"
    major, minor, _, int_size, offset_size, form = header[len(DUMP_MAGIC):DUMP_HEADER]
    if form != CUSTOM_FORMAT:
        return f"a pg_dump archive in format {form}, not the custom format (1) backups are made in"
    if major != 1 or minor < 12 or int_size not in (4, 8) or offset_size not in (4, 8):
        return f"a pg_dump archive with an unexpected header (version {major}.{minor}, sizes {int_size}/{offset_size})"
    return None
