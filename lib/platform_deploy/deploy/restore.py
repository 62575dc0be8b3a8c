"""Restore a backup: verify it, save the current state, write the backup's data, deploy its images.

The restore is a deploy of the backup's image tags through the pipeline (pull
off: the tags are local), so it gets the same checks and zero-downtime switch:
  1  pre-flight
  2  under the deploy lock: save the current state as a new backup (reason
     pre-restore), then write the backup's volumes, env files and, with
     --with-database, its database
  3-7 candidates from the backup's images start on the restored data, pass
     health and smoke tests, take the traffic; the manifest records the deploy
     with restored_from.
Volumes are restored in place while the live containers keep running (Docker
cannot swap a volume under a running container, and stopping them would be
downtime): for the seconds until the switch, the old version sees the restored
files. If anything fails, the pipeline's rollback keeps the old version serving
and the saved state is written back, so it serves its own data again.

Nothing changes before the backup is verified (every checksum, every archive,
every image) and found to fit the project as it is configured now.
The projects.yml entry saved in the backup is never applied: its path is printed.
"""

from dataclasses import dataclass, field

from ..backup import catalog, configfiles, database, layout, volumes
from ..backup.commands import image_repositories
from ..backup.create import PRE_RESTORE, create
from ..config.model import DatabaseTarget
from ..envfiles import env_files
from ..errors import PlatformError
from ..plan import make_plan, new_deploy_id
from ..state.records import Attempt, PutBack
from ..textutil import one_line
from . import pipeline, putback


@dataclass(frozen=True)
class RestorePlan:
    volumes: dict                # {volume: archive path in the payload} to restore
    env_files: dict              # {relative path: stored path}
    database: bool
    notes: tuple = field(default=())


def plan_restore(backup: catalog.Backup, deploy_plan, with_database: bool, env_paths) -> RestorePlan:
    """What the restore writes, or a PlatformError when the backup does not fit the project now (pure).

    ``env_paths``: the env files the project's current entry derives for the environment; only those are
    written back, whatever other paths the backup's .meta names.
    """
    name = backup.name
    missing = [role.role for role in deploy_plan.roles if role.role not in backup.images]
    if missing:
        raise PlatformError(f"backup {name} has no image for {', '.join(missing)} (the project's containers "
                            "changed since, or nothing of it was live); nothing was changed; restore another backup")
    if with_database and not backup.database:
        why = (backup.meta or {}).get("database_note") or "none was made"
        raise PlatformError(f"backup {name} has no database dump ({why}); nothing was changed; "
                            "restore it without --with-database")
    wanted = volumes.project_volumes(deploy_plan)
    restore = {volume: info["file"] for volume, info in sorted(backup.volumes.items()) if volume in wanted}
    notes = [f"volume {volume} is not used by the project any more: not restored"
             for volume in sorted(backup.volumes) if volume not in wanted]
    notes += [f"volume {volume} is not in the backup: left as it is" for volume in sorted(wanted)
              if volume not in backup.volumes]
    if backup.database and not with_database:
        notes.append(f"database {backup.database.get('database')} not restored (pass --with-database for that)")
    backed_up = {relative: stored for relative, stored in
                 ((backup.meta or {}).get("config") or {}).get("env_files", {}).items() if stored}
    notes += [f"env file {relative} is not the project's any more: not restored" for relative in sorted(backed_up)
              if relative not in env_paths]
    env_files = {relative: stored for relative, stored in backed_up.items() if relative in env_paths}
    return RestorePlan(restore, env_files, with_database, tuple(notes))


class RestoreData:
    """Step 2 of a restore: verify the files again, save the current state, write the backup's data.

    Each write is remembered (journaled) before it is made, so that the rollback, or the recovery of a
    killed restore, writes the saved state back over it unless the restore went live (putback.py).
    """

    def __init__(self, backup: catalog.Backup, todo: RestorePlan, database: DatabaseTarget | None):
        self.backup, self.todo = backup, todo
        self.database = database   # the project's database, when the restore writes it
        self.engine, self.settings, self.project, self.environment = None, None, None, None   # set by prepare
        self.saved = None          # catalog.Backup of the state before the restore
        self.changed = []          # ("volume" | "env" | "database", what), in the order written

    def prepare(self, engine, settings, project, plan, deployed_by: str, git_sha, remember,
                progress) -> pipeline.Prepared:
        backup = self.backup
        self.engine, self.settings, self.project, self.environment = engine, settings, plan.project, plan.environment
        problems = catalog.unchanged_since_verified(backup)
        if problems:
            raise PlatformError(f"backup {backup.name} changed since it was verified: {catalog.describe(problems)}")
        for role in plan.roles:   # checked again where it acts: tagging another project's image would deploy it
            problem = catalog.image_problem(backup, role.role, engine.image, role.repository)
            if problem:
                raise PlatformError(f"backup {backup.name}: {problem}; nothing was changed")
        for role in plan.roles:   # the tag the pipeline deploys must name the image the backup recorded
            recorded, present = backup.images[role.role]["image_id"], engine.image(role.image)
            if present is None or present.id != recorded:
                engine.tag(recorded, role.repository, plan.tag)
        saved = create(engine, settings, plan, deployed_by, None, project=project, reason=PRE_RESTORE,
                       include_database=self.todo.database, progress=progress)
        if saved is not None:
            self.saved = catalog.read(layout.backup_dir(settings, plan.project, plan.environment), saved["name"])
        try:
            self._write_data(remember, progress)
        except OSError as error:   # a payload file
            raise PlatformError(f"writing the data of {backup.name} failed: {one_line(error, 200)}") from None
        before = f"state before saved as {saved['name']}" if saved else "nothing to save before"
        return pipeline.Prepared(f"{before}; restored from {backup.name}: {self._written()}",
                                 backup=saved["name"] if saved else None)

    def _write_data(self, remember, progress) -> None:
        backup, todo = self.backup, self.todo

        def about_to_change(*items):
            self.changed.extend(items)
            remember(self.record())

        for volume, relative in todo.volumes.items():
            about_to_change(("volume", volume))
            volumes.restore(self.engine, self.settings, self.project, self.environment, volume, backup, relative,
                            progress)
        if todo.env_files:
            about_to_change(*(("env", relative) for relative in todo.env_files))
            configfiles.restore_env_files(self.settings, self.project, todo.env_files, backup.payload_dir,
                                          backup.meta["files"])
        if todo.database:
            about_to_change(("database", backup.database["database"]))
            database.restore(self.engine, self.database, backup, backup.database["file"], progress)

    def record(self) -> PutBack:
        where = self.database
        return PutBack(self.backup.name, self.saved.name if self.saved else None, tuple(self.changed),
                       (where.container, where.database, where.role) if where else None)

    def _written(self) -> str:
        return putback.describe(self.changed) or "images only"

    def put_back(self) -> str:
        """Write the saved state back over what the restore changed; return what happened."""
        action = putback.put_back(self.engine, self.settings, self.project, self.environment, self.record())
        return str(action) if action else ""


def restore(engine, settings, registry, project_name: str, environment: str, name: str | None, with_database: bool,
            report, deployment=pipeline.Deployment) -> Attempt:
    """Restore backup ``name`` (the newest when None) by a deploy of its images (``deployment``: the engine's
    pipeline); return the manifest record of that deploy."""
    project = registry.project(project_name)
    project.check_environment(environment)
    backup = catalog.resolve(settings, project_name, environment, name)
    report.line(f"verifying {backup.name} of {project_name}/{environment} ...")
    problems = catalog.verify(backup, engine.image, image_repositories(project))
    catalog.record_verification(backup, problems)
    if problems:
        raise PlatformError(f"backup {backup.name} of {project_name}/{environment} cannot be restored: "
                            f"{catalog.describe(problems)}; nothing was changed; see invoke backup.verify "
                            f"--project {project_name} --env {environment} --backup {backup.name}, "
                            f"or restore another backup (invoke backup.list)")
    options = pipeline.Options(tag=layout.image_tag(backup.name, environment), pull=False, restored_from=backup.name,
                               git_sha=(backup.meta or {}).get("git_sha"))
    todo = plan_restore(backup, make_plan(project, environment, options.tag, new_deploy_id()), with_database,
                        env_files(project, environment))
    data = RestoreData(backup, todo, _database_target(settings, project, environment, with_database))
    for note in todo.notes:
        report.line(f"note: {note}")
    entry_file = backup.file(configfiles.ENTRY)
    try:
        attempt = deployment(engine, settings, registry, project_name, environment, options, report,
                             preparation=data).run()
    finally:
        if entry_file.is_file():
            report.line(f"the backup's projects.yml entry is in {entry_file} (not applied; compare it with "
                        f"{settings.relative(settings.projects_file)})")
    if data.saved is not None:
        report.line(f"restored {backup.name}; the state before is {data.saved.name} (restore that one to undo)")
    return attempt


def _database_target(settings, project, environment: str, with_database: bool) -> DatabaseTarget | None:
    if not with_database:
        return None
    target = database.target(settings, project, environment)
    if target is None:   # refused now, before anything changes
        raise PlatformError(f"{project.name} declares no database for {environment} any more; "
                            "nothing was changed; restore without --with-database")
    return target
