"""Shape manifests and backup metadata into the data each status view shows (pure)."""

WENT_LIVE = ("success", "interrupted_completed")
ROLLED_BACK = ("rolled_back", "rollback_failed", "interrupted_rolled_back")


def entry_status(entry: dict) -> str:
    # The seed's manifests recorded successful deployments only, without a status.
    return entry.get("status") or "success"


def failed_step(entry: dict) -> dict | None:
    """The step that ended the attempt (``{step, name, detail}``), None when every step passed."""
    for step in entry.get("steps") or []:
        if step.get("status") not in ("ok", None):
            return {"step": step.get("step"), "name": step.get("name"), "detail": step.get("detail") or ""}
    return None


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


def images(entry: dict) -> list[dict]:
    digests = entry.get("image_digests") or {}
    return [{"role": role, "image": image, "digest": digests.get(role)}
            for role, image in sorted((entry.get("images") or {}).items())]


def attempt(entry: dict) -> dict:
    return {
        "deploy_id": entry.get("deploy_id"),
        "deployed_at": entry.get("deployed_at"),
        "deployed_by": entry.get("deployed_by"),
        "version": entry.get("version"),
        "status": entry_status(entry),
        "duration_seconds": entry.get("duration_seconds"),
        "failed_step": failed_step(entry),
        "failure": entry.get("failure"),
        "rollback": list(entry.get("rollback") or []),
    }


def current_view(manifest: dict, backup: dict | None, health: dict) -> dict:
    """The default view: what serves now, how the last attempt went, live health."""
    current = manifest.get("current_deployment")
    history = manifest.get("deployment_history") or []
    last = manifest.get("last_attempt") or (history[0] if history else None)
    return {
        "project": manifest.get("project"),
        "environment": manifest.get("environment"),
        "current": None if not current else {
            "deploy_id": current.get("deploy_id"),
            "version": current.get("version"),
            "deployed_at": current.get("deployed_at"),
            "deployed_by": current.get("deployed_by"),
            "git_sha": current.get("git_sha"),
            "backup": current.get("backup"),
            "database_backup": database_backup(backup),
            "images": images(current),
        },
        "last_attempt": attempt(last) if last else None,
        "health": health,
    }


def history_view(manifest: dict) -> dict:
    """Every kept attempt, newest first, failed and rolled back ones included."""
    current_id = (manifest.get("current_deployment") or {}).get("deploy_id")
    return {
        "project": manifest.get("project"),
        "environment": manifest.get("environment"),
        "history": [{**attempt(entry), "current": current_id is not None and entry.get("deploy_id") == current_id}
                    for entry in manifest.get("deployment_history") or []],
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
