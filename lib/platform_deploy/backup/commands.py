"""What the backup tasks do: take the lock where they change something, call the library, format results."""

from ..errors import PlatformError
from ..plan import deployed_by, git_sha_from, make_plan, new_deploy_id
from ..state.lock import DeployLock
from ..textutil import byte_size
from . import catalog, layout
from . import create as creating
from . import prune as pruning


def create(engine, settings, registry, project_name: str, environment: str, progress=None) -> dict:
    """A manual backup; ``progress(bytes)`` as for backup.create.create."""
    project = registry.project(project_name)
    plan = make_plan(project, environment, "latest", new_deploy_id())
    with DeployLock(settings, project_name, environment):
        meta = creating.create(engine, settings, plan, deployed_by(), git_sha_from(), project=project,
                               reason=creating.MANUAL, progress=progress)
    if meta is None:
        raise PlatformError(f"nothing to back up: {project_name}/{environment} has no live containers, volumes "
                            "or database")
    return meta


def describe_created(settings, meta: dict) -> str:
    directory = layout.backup_dir(settings, meta["project"], meta["environment"])
    parts = [f"{len(meta['volumes'])} volume(s)", f"{len(meta['images'])} image(s)",
             f"database {meta['database']['database']}" if meta["database"] else "no database dump"]
    return (f"created {meta['name']} of {meta['project']}/{meta['environment']}: {', '.join(parts)}, "
            f"{byte_size(meta['total_bytes'])} in {directory}")


def table(settings, project: str, environment: str, backups: list) -> str:
    directory = layout.backup_dir(settings, project, environment)
    incomplete = catalog.orphans(settings, project, environment)
    if not backups and not incomplete:
        return f"{project}/{environment}: no backups in {directory}"
    rows = [("NAME", "CREATED (UTC)", "SIZE", "IMAGES", "DATABASE", "VERIFIED", "REASON")]
    for backup in backups:
        rows.append((backup.name, backup.created_at or "?", byte_size(backup.total_bytes), str(len(backup.images)),
                     "yes" if backup.database else "no", catalog.verified_state(backup),
                     (backup.meta or {}).get("reason") or "?"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"{project}/{environment}: {len(backups)} backup(s) in {directory}, newest first"]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines += [f"{path.name}  INCOMPLETE (interrupted; backup.prune removes it)" for path in incomplete]
    return "\n".join(lines)


def verify(engine, settings, registry, project: str, environment: str, name: str | None, say) -> int:
    """Verify one backup or all; say() one line each; return how many failed."""
    repositories = image_repositories(registry.project(project))
    chosen = ([catalog.resolve(settings, project, environment, name)] if name
              else catalog.backups(settings, project, environment))
    if not chosen:
        raise PlatformError(f"no backups of {project}/{environment} in "
                            f"{layout.backup_dir(settings, project, environment)}")
    failed = 0
    for backup in chosen:
        problems = catalog.verify(backup, engine.image, repositories)
        if backup.meta_file.exists():      # not pruned meanwhile
            catalog.record_verification(backup, problems)
        if problems:
            failed += 1
            say(f"{backup.name}: FAILED")
            for problem in problems:
                say(f"  {problem}")
        else:
            say(f"{backup.name}: ok ({len(backup.meta['files'])} files, {byte_size(backup.total_bytes)}, "
                f"{len(backup.images)} image(s))")
    return failed


def prune(engine, settings, project: str, environment: str, keep, max_age_days, dry_run: bool) -> pruning.Result:
    rules = pruning.policy(settings, keep, max_age_days)
    with DeployLock(settings, project, environment):
        return pruning.prune(engine, settings, project, environment, rules, dry_run=dry_run)


def describe_pruned(result: pruning.Result, dry_run: bool) -> str:
    verb = "would remove" if dry_run else "removed"
    lines = [f"{verb} {d.name} ({d.reason})" for d in result.decisions if d.remove]
    lines += [f"kept    {d.name} ({d.reason})" for d in result.decisions if not d.remove]
    lines += [f"removed incomplete {name}" for name in result.orphans_removed]
    lines.append("dry run: nothing removed" if dry_run else result.summary())
    return "\n".join(lines)


def image_repositories(project) -> dict[str, str]:
    """{role: image repository} of the project's entry now: what a backup's images must be of."""
    return {container.role: container.image for container in project.containers if container.image}
