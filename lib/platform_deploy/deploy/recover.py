"""Undo a deploy that failed or was killed, leaving the live version serving.

``undo`` is the rollback of a running deploy; ``recover`` reads the journal a
killed deploy left behind and either finishes its switch (traffic had already
moved) or undoes it. `invoke deploy.recover` runs only the latter.
"""

import time
from dataclasses import dataclass
from typing import NamedTuple

from ..backup import layout, prune, volumes
from ..errors import PlatformError
from ..fsutil import remove_partials
from ..naming import role_labels
from ..state import journal, manifest
from ..state.paths import state_dir
from ..textutil import utc_timestamp
from . import migrate, switch


@dataclass(frozen=True)
class JournalRole:
    role: str
    live_name: str
    new_name: str


@dataclass(frozen=True)
class JournalPlan:
    """The part of a DeployPlan the journal keeps: enough to find and undo what was started."""

    network: str
    roles: tuple[JournalRole, ...]


EXPOSED_PHASES = ("switching", "switched")
RESTORE_ADVICE = "restore it from the backup's dump (invoke backup.restore --with-database)"


class Reversal(NamedTuple):
    done: bool
    retryable: bool      # failed now, may work later (PostgreSQL down, say) with the same container
    text: str


def undo(engine, plan, phase: str, old_names, migrations, say, reversed_one=lambda migration: None,
         give_up: bool = False, placeholders=None) -> bool:
    """Put the live version back in charge, ``say``-ing each action (lines starting FAILED need a human).

    Returns False when a migration could not be reversed yet but may be later: the
    candidates are then kept, stopped, because their scripts do the downgrade. With
    ``give_up`` they are removed anyway. ``reversed_one(migration)`` follows each
    successful reversal, so the caller's journal can forget it. ``placeholders``: see
    switch.retire.
    """
    if phase in EXPOSED_PHASES:
        switch.hand_back(engine, plan, old_names, placeholders)
        say(f"traffic back on {', '.join(old_names) or 'nothing (first deploy)'}")
    retry_later = False
    for migration in reversed(migrations):
        reversal = _reverse(engine, plan, phase, migration)
        if reversal.done:
            reversed_one(migration)
            say(reversal.text)
        elif reversal.retryable and not give_up:
            retry_later = True
            say(reversal.text)
        else:
            say(f"{reversal.text}; {RESTORE_ADVICE}")
    names = ", ".join(role.new_name for role in plan.roles)
    if retry_later:
        for role in plan.roles:
            engine.stop(role.new_name)
        say(f"FAILED: kept {names} (stopped) for deploy.recover: their scripts reverse the migration")
        return False
    for role in plan.roles:
        engine.remove(role.new_name)
    say(f"removed {names}")
    return True


def _reverse(engine, plan, phase, migration: dict) -> Reversal:
    name = migration["container"]
    state = engine.inspect(name)
    if state is None:
        return Reversal(False, False, f"FAILED: cannot reverse `{migration['command']}`: {name} is gone")
    if not state.running:
        if phase in EXPOSED_PHASES:  # it still carries the live alias: drop it before starting it again
            engine.disconnect(name, plan.network)
            engine.start(name)
            engine.connect(name, plan.network)
        else:
            engine.start(name)
        _wait_running(engine, name)
    try:
        target = migrate.reverse(engine, migrate.Migration(**migration))
    except migrate.Irreversible as error:
        return Reversal(False, False, f"FAILED: database NOT restored: {error}")
    except PlatformError as error:
        return Reversal(False, True, f"FAILED: database NOT restored: {error}")
    return Reversal(True, False, f"database downgraded to {target}")


def _wait_running(engine, name, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = engine.inspect(name)
        if state is not None and state.running:
            return
        time.sleep(0.2)


def remove_leftovers(engine, settings, project: str, environment: str) -> list[str]:
    """What a process killed outside a journaled step leaves: half-written files, backup debris."""
    found = []
    for directory in (state_dir(settings, project, environment), layout.backup_dir(settings, project, environment)):
        found += [f"removed half-written {directory / name}" for name in remove_partials(directory)]
    for placeholder in engine.find(role_labels(project, environment, switch.PLACEHOLDER_ROLE)):
        engine.remove(placeholder.id)
        found.append(f"removed placeholder {placeholder.name} of an interrupted switch")
    helpers = volumes.remove_leftover_helpers(engine, project, environment)
    if helpers:
        found.append(f"removed {helpers} backup helper container(s) of an interrupted backup")
    incomplete = prune.remove_orphans(engine, settings, project, environment).orphans_removed
    if incomplete:
        found.append(f"removed incomplete backup(s) {', '.join(incomplete)}")
    return found


def finish_switch(engine, plan, say) -> None:
    """Traffic had moved to the candidates: complete the renames an interrupted deploy did not get to."""
    for role in plan.roles:
        if engine.inspect(role.new_name) is None:
            continue  # already renamed
        engine.remove(role.live_name)
        engine.rename(role.new_name, role.live_name)
    say(f"finished the switch: {', '.join(role.live_name for role in plan.roles)} serve the new version")


def recover(engine, settings, project: str, environment: str, report, give_up: bool = False) -> bool:
    """Clean up after a killed deploy of project/environment; False when there was none.

    Raises (keeping the journal) while a migration cannot be reversed yet, unless ``give_up``.
    """
    for line in remove_leftovers(engine, settings, project, environment):
        report.line(line)
    entry = journal.read(settings, project, environment)
    if entry is None:
        return False
    if not entry:
        raise PlatformError(f"{project}/{environment}: the deploy journal is unreadable; inspect "
                            f"`docker ps -a --filter label=platform.project={project}` and remove it by hand")
    plan = JournalPlan(entry["network"], tuple(JournalRole(**role) for role in entry["roles"]))
    phase = entry["phase"]
    report.line(f"found interrupted deploy {entry['deploy_id']} (stopped during {phase}); cleaning up")
    actions = []

    def say(action):
        actions.append(action)
        report.line(f"  {action}")

    def forget(migration):
        entry["migrations"].remove(migration)
        journal.write(settings, project, environment, entry)

    if phase == "switched":
        finish_switch(engine, plan, say)
        status = "interrupted_completed"
    else:
        if not undo(engine, plan, phase, entry["old_names"], list(entry["migrations"]), say, forget, give_up):
            raise PlatformError(
                f"{project}/{environment}: interrupted deploy {entry['deploy_id']} is not undone yet "
                f"({'; '.join(a for a in actions if a.startswith('FAILED'))}); run `invoke deploy.recover "
                f"--project {project} --env {environment}` again once that works, or add --abandon to remove "
                f"its containers and restore the database from the backup instead")
        status = "rollback_failed" if any(a.startswith("FAILED") for a in actions) else "interrupted_rolled_back"
    manifest.record(settings, project, environment, {
        "deploy_id": entry["deploy_id"],
        "version": entry["tag"],
        "deployed_at": utc_timestamp(),
        "status": status,
        "images": entry.get("images", {}),
        "backup": entry.get("backup"),
        "failure": f"deploy process stopped during {phase}",
        "rollback": actions,
    }, current=status == "interrupted_completed")
    journal.clear(settings, project, environment)
    return True
