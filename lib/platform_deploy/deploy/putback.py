"""A restore that did not go live writes the state it saved back over what it changed.

Used by the restore's rollback (restore.RestoreData) and by `recover` for a restore
that was killed: the journal carries the ``PutBack`` record, written before each change.
"""

from ..backup import catalog, configfiles, database, layout, volumes
from ..config.model import DatabaseTarget
from ..errors import PlatformError
from ..state.records import Action, PutBack, done, needs_human

KINDS = {"volume": "volume", "env": "env file", "database": "database"}


def describe(changed) -> str:
    return ", ".join(f"{KINDS[kind]} {what}" for kind, what in changed)


def put_back(engine, settings, project: str, environment: str, record: PutBack) -> Action | None:
    """Write the saved state back over what ``record`` says was changed, newest change first; None when
    nothing was changed."""
    if not record.changed:
        return None
    if record.saved is None:
        return done(f"the data of {record.restored_from} stays in place (there was nothing to save before)")
    saved = catalog.read(layout.backup_dir(settings, project, environment), record.saved)
    if saved.meta is None:   # nothing to tell what it holds: writing from it could only do harm
        return needs_human(f"could not put back {describe(record.changed)}: backup {record.saved} is unreadable; "
                           f"restore another one by hand (invoke backup.list --project {project} --env {environment})")
    saved_env = ((saved.meta or {}).get("config") or {}).get("env_files") or {}
    target = DatabaseTarget(*record.database) if record.database else None
    written, failed = [], []
    for kind, what in reversed(record.changed):
        try:
            if kind == "volume" and what in saved.volumes:
                volumes.restore(engine, settings, project, environment, what, saved, saved.volumes[what]["file"])
            elif kind == "env" and saved_env.get(what):
                configfiles.restore_env_files(settings, project, {what: saved_env[what]}, saved.payload_dir,
                                              saved.meta.get("files"))
            elif kind == "env":
                configfiles.remove_env_file(settings, project, what)   # it did not exist before
            elif kind == "database" and saved.database and target is not None:
                database.restore(engine, target, saved, saved.database["file"])
            else:
                continue
            written.append((kind, what))
        except (PlatformError, OSError) as problem:
            failed.append(f"{KINDS[kind]} {what} ({problem})")
    if failed:
        return needs_human(f"could not put back {'; '.join(failed)}: restore {saved.name} by hand (invoke "
                           f"backup.restore --project {project} --env {environment} --backup {saved.name}"
                           f"{' --with-database' if target else ''})")
    return done(f"data put back from {saved.name}: {describe(written)}") if written else None
