r"""The project's database in the platform PostgreSQL: dumped with pg_dump, restored exactly.

Both run inside the PostgreSQL container through `docker exec` over its local
socket (trust: no password anywhere), and stream: the dump goes to the backup
file chunk by chunk, the restore reads a checked private copy of it the same way.

A dump is data from disk, so the restore trusts nothing in it: psql connects as
the project's own role to its own database (not as postgres: `SET ROLE` or
`SET SESSION AUTHORIZATION` would be undone by a `RESET ROLE` in the dump), so
the dump's SQL can do only what the project itself can; pg_restore leaves out
owners and grants (--no-owner --no-privileges: everything is the role's), and
its script runs under psql's `\restrict` with a key made for this restore, so
no psql meta-command in the dump (`\!`, `\connect` as postgres, `\copy`) runs.
A role with superuser, createrole, replication or bypassrls is refused.

A restore is one transaction: it drops what the project's role owns in the
database, then replays the dump, and commits only when pg_restore read the whole
dump without error. A failed restore leaves the database as it was.
"""

import secrets

from ..config.model import DatabaseTarget
from ..errors import PlatformError
from ..textutil import one_line
from . import catalog, payload

# Runs as the project's role, before the dump: refuse a privileged role, then drop what it owns.
_PREAMBLE = (
    "BEGIN;\n"
    "DO $$BEGIN IF (SELECT rolsuper OR rolcreaterole OR rolreplication OR rolbypassrls FROM pg_roles "
    "WHERE rolname = current_user) THEN RAISE EXCEPTION 'role % is privileged: a backup is never restored as "
    "such a role', current_user; END IF; END$$;\n"
    "DROP OWNED BY CURRENT_USER;\n"
)
# $1 role, $2 database, $3 the \restrict key (pg_restore ends its script with \unrestrict), $4 the preamble,
# $5 the marker psql echoes once COMMIT succeeded. printf COMMIT runs only when pg_restore succeeded; without
# it psql ends inside the transaction, which rolls back, and exits 0 (the pipeline's status is psql's): so
# success is the marker in the output, made for each restore, which the dump cannot print (a fixed one it
# could, with RAISE NOTICE, before failing).
_RESTORE = (
    "{ printf '%s' \"$4\" && pg_restore --no-owner --no-privileges --restrict-key=\"$3\" --file=- "
    "&& printf 'COMMIT;\\n\\\\echo %s\\n' \"$5\"; } "
    '| psql -X -q -v ON_ERROR_STOP=1 -U "$1" -d "$2"'
)


def target(settings, project, environment: str) -> DatabaseTarget | None:
    """The project's database for ``environment``, or None when it declares none."""
    return project.database_target(environment, settings.postgres_container)


def exists(engine, where: DatabaseTarget, attempts: int = 3) -> bool:
    # Database names are allowlisted by the registry (SQL_NAME), so the literal is safe. The query
    # always prints 0 or 1: an empty answer is an exec whose output Docker lost, asked again.
    for _ in range(attempts):
        code, output = engine.exec_run(where.container, [
            "psql", "-X", "-At", "-U", "postgres", "-d", "postgres", "-c",
            f"SELECT count(*) FROM pg_database WHERE datname = '{where.database}'"])
        if code != 0:
            raise PlatformError(f"{where.container}: cannot look up database {where.database}: {one_line(output, 300)}")
        if output.strip() in ("0", "1"):
            return output.strip() == "1"
    raise PlatformError(f"{where.container}: no answer when looking up database {where.database}; try again")


def dump(engine, where: DatabaseTarget, writer: payload.PayloadWriter, relative: str) -> None:
    """pg_dump --format=custom into the payload; an empty or failed dump is an error."""
    with writer.open(relative) as write:
        code, messages = engine.exec_to(where.container, [
            "pg_dump", "-U", "postgres", "--format=custom", f"--dbname={where.database}"], write)
    if code != 0:
        raise PlatformError(f"pg_dump of {where.database} in {where.container} failed (exit {code}): "
                            f"{one_line(messages, 300)}")
    if writer.files[relative]["bytes"] == 0:
        raise PlatformError(f"pg_dump of {where.database} in {where.container} wrote nothing")


def restore(engine, where: DatabaseTarget, backup, relative: str, progress=None) -> None:
    """Make the database exactly what the dump ``relative`` of ``backup`` (a catalog.Backup) holds, in one
    transaction. The dump is checked again as it is read (catalog.checked_chunks): a mismatch raises before
    psql starts, so the database is not touched. ``progress``: see catalog.checked_chunks."""
    key = secrets.token_hex(16)   # psql's \restrict key: letters and digits, unknown to the dump
    committed = f"platform-restore-committed-{secrets.token_hex(16)}"
    with catalog.checked_chunks(backup, relative, progress) as chunks:
        code, output = engine.exec_from(where.container, ["sh", "-c", _RESTORE, "sh", where.role, where.database,
                                                          key, _PREAMBLE, committed], chunks)
    if code != 0 or committed not in output:
        raise PlatformError(f"restoring database {where.database} in {where.container} failed, nothing was "
                            f"changed in it: {one_line(output, 300) or f'exit {code}'}")
