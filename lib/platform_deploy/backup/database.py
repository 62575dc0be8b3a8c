"""The project's database in the platform PostgreSQL: dumped with pg_dump, restored exactly.

Both run inside the PostgreSQL container through `docker exec` as the postgres
superuser over its local socket (no password anywhere), and stream: the dump
goes to the backup file chunk by chunk, the restore reads the file the same way.

A restore is one transaction: it drops what the project's role owns in the
database, then replays the dump, and commits only when pg_restore read the whole
dump without error. A failed restore leaves the database as it was.
"""

from ..config.model import DatabaseTarget
from ..errors import PlatformError
from ..textutil import one_line
from . import payload

COMMITTED = "platform-restore-committed"
# $1 role, $2 database. printf COMMIT runs only when pg_restore succeeded; without it psql
# ends inside the transaction and PostgreSQL rolls everything back.
_RESTORE = (
    "{ printf 'BEGIN;\\nDROP OWNED BY :\"role\";\\n' && pg_restore --file=- "
    "&& printf 'COMMIT;\\n\\\\echo " + COMMITTED + "\\n'; } "
    '| psql -X -q -v ON_ERROR_STOP=1 -v role="$1" -U postgres -d "$2"'
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


def restore(engine, where: DatabaseTarget, dump_file) -> None:
    """Make the database exactly what ``dump_file`` holds, in one transaction."""
    code, output = engine.exec_from(where.container, ["sh", "-c", _RESTORE, "sh", where.role, where.database],
                                    payload.read_chunks(dump_file))
    if code != 0 or COMMITTED not in output:
        raise PlatformError(f"restoring database {where.database} in {where.container} failed, nothing was "
                            f"changed in it: {one_line(output.replace(COMMITTED, ''), 300) or f'exit {code}'}")
