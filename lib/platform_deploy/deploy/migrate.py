"""Step 4.5: database migrations in the candidate backend, and their reversal on rollback."""

import re
import shlex

from ..redact import url_credentials
from ..state.records import Migration
from .probes import CheckFailed

AUTO_COMMAND = "alembic upgrade head"
# `alembic current --verbose` prints this header on stdout even at base. Docker 20.10 sometimes
# loses a busy exec's stdout while its stderr (alembic's INFO lines) arrives: without the
# header, "no revision" is not believable, and a rollback to "base" would drop every table.
# An empty answer lacks the header too, so this loop also covers exec_run's output_expected.
_HEADER = re.compile(r"^Current revision\(s\) for ", re.MULTILINE)
_REV_LINE = re.compile(r"^Rev: ([0-9A-Za-z_]+)(.*)$", re.MULTILINE)
READ_ATTEMPTS = 3


def _has_alembic(engine, name: str) -> bool:
    state = engine.inspect(name)
    return state is not None and engine.file_exists(name, state.workdir.rstrip("/") + "/alembic.ini")


def current_revision(engine, name: str) -> str | None:
    """The database's Alembic revision as the container sees it; None at base (no revision yet)."""
    return _current(engine, name)[0]


def _current(engine, name: str) -> tuple[str | None, bool]:
    """(current_revision, whether it is the one head of the container's scripts)."""
    for _ in range(READ_ATTEMPTS):
        code, output = engine.exec_run(name, ["alembic", "current", "--verbose"])
        if code != 0:
            raise CheckFailed(f"{name}: `alembic current` failed: {_tail(output)}")
        if _HEADER.search(output):
            revisions = _REV_LINE.findall(output)
            at_head = len(revisions) == 1 and "(head)" in revisions[0][1]
            return ",".join(revision for revision, _ in revisions) or None, at_head
    raise CheckFailed(f"{name}: `alembic current --verbose` answered {READ_ATTEMPTS} times without its "
                      "'Current revision(s) for' line; cannot tell the database's revision")


def _command(role, alembic: bool) -> str | None:
    """The migration command for this role, or None when it has none."""
    if role.migrations is False:
        return None
    if role.migrations is True:
        return AUTO_COMMAND if alembic else None
    return role.migrations


def run(engine, role, started=None) -> Migration | None:
    """Run the role's migration command; ``started(migration)`` is called just before it runs.

    `alembic upgrade head` with the database at the scripts' only head already would change
    nothing: it is not run (most deploys change no schema; it saves two Python start-ups).
    """
    alembic = role.migrations is not False and _has_alembic(engine, role.new_name)
    command = _command(role, alembic)
    if command is None:
        return None
    before, at_head = _current(engine, role.new_name) if alembic else (None, False)
    if command == AUTO_COMMAND and at_head:
        return Migration(role.new_name, command, alembic, before, before)
    if started is not None:
        started(Migration(role.new_name, command, alembic, before, None))
    code, output = engine.exec_run(role.new_name, shlex.split(command))
    if code != 0:
        raise MigrationFailed(Migration(role.new_name, command, alembic, before, None),
                              f"{role.new_name}: `{command}` failed (exit {code}): {_tail(output)}")
    after = current_revision(engine, role.new_name) if alembic else None
    return Migration(role.new_name, command, alembic, before, after)


def reverse(engine, migration: Migration) -> str:
    """Downgrade to the revision recorded before, with the new image (it still has the scripts)."""
    if not migration.alembic:
        raise Irreversible(f"cannot reverse `{migration.command}` automatically (not Alembic)")
    target = migration.before or "base"
    code, output = engine.exec_run(migration.container, ["alembic", "downgrade", target])
    if code != 0:
        raise CheckFailed(f"`alembic downgrade {target}` failed (exit {code}): {_tail(output)}")
    return target


class Irreversible(CheckFailed):
    """No automatic way back exists (trying again will not help)."""


class MigrationFailed(CheckFailed):
    """The command failed; ``migration`` says what may need reversing (a partly applied run)."""

    def __init__(self, migration: Migration, message: str):
        super().__init__(message)
        self.migration = migration


def _tail(output: str) -> str:
    # SQLAlchemy ends its errors with a "(Background on this error at: <url>)" line: no news there.
    # Some of its errors quote the whole database URL: the password must not reach the manifest.
    lines = [line for line in output.strip().splitlines()
             if line.strip() and not line.startswith("(Background on this error")]
    return url_credentials(" | ".join(lines[-2:]))[:300]
