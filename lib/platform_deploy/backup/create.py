"""Create a backup of what a project/environment runs now: volumes, database, config, images, .meta.

Order: volume archives, database dump, config copies (the payload, hashed as it
is written), then the image tags, then the .meta, written last and atomically:
a backup without its .meta does not exist. Anything failing half-way (a full
disk, a failed pg_dump, an interrupt) removes everything made so far, image
tags included, and raises a PlatformError; the deploy that asked for the backup
then stops before it changes anything.

Volume archives are taken while the live containers run: files written during
the archive may be caught half-way. Data that must be consistent belongs in
PostgreSQL, whose dump is a consistent snapshot.
"""

import errno
import json
import shutil
import time
from pathlib import Path

from ..engine import ImageInfo
from ..errors import PlatformError
from ..fsutil import write_atomic
from ..textutil import utc_timestamp
from . import configfiles, database, layout, volumes
from .layout import backup_dir, image_tag, reserve_name
from .payload import PayloadWriter

FORMAT = 1
DEPLOY, MANUAL, PRE_RESTORE = "deploy", "manual", "pre-restore"
REVISION_LABEL = "org.opencontainers.image.revision"


def create(engine, settings, plan, created_by: str, git_sha: str | None, *, project, reason: str = DEPLOY,
           include_database: bool = True, progress=None) -> dict | None:
    """Back up ``plan``'s project/environment; return the .meta, or None when there is nothing to back up.

    Before a deploy (``reason`` DEPLOY) there is nothing to back up until something
    is live; a manual or pre-restore backup also takes volumes and the database alone.
    ``progress(bytes)``, when given, hears the bytes written so far as they stream in.
    """
    environment = plan.environment
    volumes.remove_leftover_helpers(engine, plan.project, environment)
    live = {role.role: (role, state) for role in plan.roles
            if (state := engine.inspect(role.live_name)) is not None}
    volumes_here = {name: mount for name, mount in volumes.project_volumes(plan).items()
                    if engine.volume_exists(name)}
    target, database_note = _database(engine, settings, project, environment, include_database)
    if not live and (reason == DEPLOY or not (volumes_here or target)):
        return None
    directory = backup_dir(settings, plan.project, environment)
    try:
        name = reserve_name(settings.backups_dir, directory, taken=lambda candidate: any(
            engine.image(f"{role.repository}:{image_tag(candidate, environment)}") is not None
            for role, _ in live.values()))
    except OSError as error:
        raise PlatformError(f"cannot make a backup in {directory}: {_os_reason(error, directory)}") from None
    started = time.monotonic()
    writer = PayloadWriter(layout.payload_path(directory, name), progress)
    made_tags: list[str] = []
    try:
        meta = {
            "format": FORMAT,
            "name": name,
            "project": plan.project,
            "environment": environment,
            "created_at": utc_timestamp(),
            "created_by": created_by,
            "git_sha": git_sha,
            "deploy_id": None if reason == MANUAL else plan.deploy_id,
            "reason": reason,
            "volumes": _archive_volumes(engine, settings, plan, volumes_here, writer),
            "database": _dump(engine, target, writer),
            "database_note": database_note,
            "config": configfiles.save(settings, project, environment, writer),
        }
        writer.sync_dirs()
        meta["images"] = _tag_images(engine, live, name, environment, writer, made_tags)
        meta["git_sha"] = git_sha or next((image["revision"] for image in meta["images"].values()
                                          if image.get("revision")), None)
        meta["files"] = writer.files
        meta["total_bytes"] = writer.total_bytes
        meta["duration_seconds"] = round(time.monotonic() - started, 2)
        write_atomic(layout.meta_path(directory, name), json.dumps(meta, indent=2) + "\n", mode=0o600)
        (writer.root / layout.PENDING_TAGS).unlink(missing_ok=True)
    except BaseException as error:
        discard(engine, directory, name, made_tags)
        if isinstance(error, OSError):
            raise PlatformError(f"could not write {name} (removed again): {_os_reason(error, directory)}") from None
        if isinstance(error, PlatformError):
            raise PlatformError(f"could not make {name} (removed again): {error}") from None
        raise
    return meta


def _database(engine, settings, project, environment, include: bool):
    target = database.target(settings, project, environment)
    if target is None:
        return None, "the project declares no database"
    if not include:
        return None, "not included (not needed for this backup)"
    if not database.exists(engine, target):
        return None, f"database {target.database} did not exist yet"
    return target, None


def _archive_volumes(engine, settings, plan, found: dict, writer) -> dict:
    records = {}
    for volume, mount in sorted(found.items()):
        relative = f"{layout.VOLUMES}/{volume}.tar"
        volumes.archive(engine, settings, plan, volume, writer, relative)
        records[volume] = {"file": relative, "mount": mount, "bytes": writer.files[relative]["bytes"]}
    return records


def _dump(engine, target, writer) -> dict | None:
    if target is None:
        return None
    relative = f"{layout.DATABASE}/{target.database}.dump"
    database.dump(engine, target, writer, relative)
    return {"container": target.container, "database": target.database, "role": target.role,
            "file": relative, "format": "custom", "bytes": writer.files[relative]["bytes"]}


def _tag_images(engine, live: dict, name: str, environment: str, writer, made_tags: list) -> dict:
    """Tag each live image as <repository>:<name>-<environment>; the tags are noted first, for cleanup."""
    tag_name = image_tag(name, environment)
    planned = [[f"{role.repository}:{tag_name}", state.image_id] for role, state in live.values()]
    write_atomic(writer.root / layout.PENDING_TAGS, json.dumps(planned), mode=0o600)
    images = {}
    for role_name, (role, state) in sorted(live.items()):
        engine.tag(state.image_id, role.repository, tag_name)
        made_tags.append(f"{role.repository}:{tag_name}")
        image = engine.image(state.image_id) or ImageInfo(state.image_id, None)
        images[role_name] = {"image": f"{role.repository}:{tag_name}", "image_id": state.image_id,
                             "digest": image.digest, "was": state.image_ref, "container": state.name,
                             "revision": image.labels.get(REVISION_LABEL)}
    return images


def discard(engine, directory, name: str, tags) -> None:
    """Remove a backup entirely: its .meta first (so it stops existing), its payload, its image tags."""
    layout.meta_path(directory, name).unlink(missing_ok=True)
    shutil.rmtree(layout.payload_path(directory, name), ignore_errors=True)
    for reference in tags:
        engine.untag(reference)


def _os_reason(error: OSError, directory) -> str:
    """What went wrong on disk and what to do, in one phrase."""
    project, environment = Path(directory).parts[-2:]
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"no space left on the device of {directory}; free space there "
                f"(invoke backup.prune --project {project} --env {environment})")
    where = f" ({error.filename})" if error.filename else ""
    return f"{error.strerror or error}{where}; check that the backups directory is writable by this user"
