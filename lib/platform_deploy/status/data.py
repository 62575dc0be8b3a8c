"""Shape manifests and backup metadata into the data each status view shows (pure)."""

from ..state.records import Attempt, Manifest


def failed_step(attempt: Attempt) -> dict | None:
    """The step that ended the attempt (``{step, name, detail}``), None when every step passed."""
    step = attempt.failed_step()
    return None if step is None else {"step": step.step, "name": step.name, "detail": step.detail}


def database_backup(meta: dict | None) -> str | None:
    """What a backup's .meta says about its database dump, as one phrase; None without one."""
    database = (meta or {}).get("database")
    if not database:
        return None
    if not isinstance(database, dict):
        return str(database)
    name = database.get("database") or database.get("name")
    where = database.get("file") or database.get("dump") or database.get("path")
    return " ".join(part for part in (name, f"({where})" if where else None) if part) or "yes"


def images(attempt: Attempt) -> list[dict]:
    return [{"role": role, "image": image, "digest": attempt.image_digests.get(role)}
            for role, image in sorted(attempt.images.items())]


def attempt_view(attempt: Attempt) -> dict:
    return {
        "deploy_id": attempt.deploy_id,
        "deployed_at": attempt.deployed_at,
        "deployed_by": attempt.deployed_by,
        "version": attempt.version,
        "status": attempt.status.value,
        "duration_seconds": attempt.duration_seconds,
        "failed_step": failed_step(attempt),
        "failure": attempt.failure,
        "rollback": list(attempt.rollback),
    }


def current_view(manifest: Manifest, backup: dict | None, health: dict, maintenance=None) -> dict:
    """The default view: maintenance, what serves now, how the last attempt went, live health."""
    current, last = manifest.current, manifest.last_attempt
    return {
        "project": manifest.project,
        "environment": manifest.environment,
        "maintenance": None if maintenance is None else {
            "since": maintenance.since, "message": maintenance.message, "retry_after": maintenance.retry_after},
        "current": None if current is None else {
            "deploy_id": current.deploy_id,
            "version": current.version,
            "deployed_at": current.deployed_at,
            "deployed_by": current.deployed_by,
            "git_sha": current.git_sha,
            "backup": current.backup,
            "database_backup": database_backup(backup),
            "images": images(current),
        },
        "last_attempt": attempt_view(last) if last else None,
        "health": health,
    }


def history_view(manifest: Manifest) -> dict:
    """Every kept attempt, newest first, failed and rolled back ones included."""
    current_id = manifest.current.deploy_id if manifest.current else None
    return {
        "project": manifest.project,
        "environment": manifest.environment,
        "history": [{**attempt_view(attempt), "current": current_id is not None and attempt.deploy_id == current_id}
                    for attempt in manifest.history],
    }


def restore_commands(project: str, environment: str, name: str) -> list[str]:
    return [f"source lib/functions/backup.sh; restore_backup {project} {environment} {name}",
            f"invoke backup.restore --project {project} --env {environment} --backup {name}"]


def rollback_view(project: str, environment: str, directory: str, metas: list[dict], others: int) -> dict:
    """The backups that can be restored (``metas``, newest first), each with the commands that restore it.

    ``others`` counts the backups that cannot be restored (unreadable, old format, failed or incomplete).
    """
    return {
        "project": project,
        "environment": environment,
        "directory": directory,
        "backups": [{
            "name": meta["name"],
            "created_at": meta.get("created_at"),
            "created_by": meta.get("created_by"),
            "reason": meta.get("reason"),
            "git_sha": meta.get("git_sha"),
            "images": {role: image.get("was") or image.get("image") if isinstance(image, dict) else image
                       for role, image in sorted((meta.get("images") or {}).items())},
            "database_backup": database_backup(meta),
            "verified": meta.get("verified"),
            "restore": restore_commands(project, environment, meta["name"]),
        } for meta in metas],
        "not_restorable": others,
    }
