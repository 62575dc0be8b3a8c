"""Undo a deploy that failed or was killed, leaving the live version serving.

``undo`` is the rollback of a running deploy; ``recover`` reads the journal a
killed deploy left behind and either finishes its switch (traffic had already
moved) or undoes it. `invoke deploy.recover` runs only the latter.
"""

import time
from dataclasses import dataclass
from datetime import datetime, timezone

from ..backup import layout, prune, volumes
from ..errors import PlatformError
from ..fsutil import remove_partials
from ..runtime import containers, docker
from ..state import journal, manifest
from ..state.paths import state_dir
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


def undo(settings, plan, phase: str, old_names, migrations, final: bool = True) -> list[str]:
    """Put the live version back in charge; return what was done (lines starting FAILED need a human).

    A migration that cannot be reversed now (PostgreSQL down, say) is final for
    ``recover``; a failing deploy (``final=False``) instead keeps the candidates,
    stopped, so a later ``recover`` can still run the downgrade with their scripts.
    """
    actions = []
    if phase in EXPOSED_PHASES:
        switch.hand_back(plan, old_names)
        actions.append(f"traffic back on {', '.join(old_names) or 'nothing (first deploy)'}")
    reversed_ok = True
    for migration in reversed(migrations):
        done, action = _reverse(plan, phase, migration)
        reversed_ok = reversed_ok and done
        if not done:
            action += ("; restore it from the backup's dump (invoke backup.restore --with-database)" if final
                       else "; deploy.recover tries again")
        actions.append(action)
    names = ", ".join(role.new_name for role in plan.roles)
    if not reversed_ok and not final:
        for role in plan.roles:
            containers.stop(role.new_name)
        actions.append(f"FAILED: kept {names} (stopped) to reverse the migration with their scripts")
        return actions
    for role in plan.roles:
        containers.remove(role.new_name)
    actions.append(f"removed {names}")
    return actions


def _reverse(plan, phase, migration: dict) -> tuple[bool, str]:
    name = migration["container"]
    state = containers.inspect(name)
    if state is None:
        return False, f"FAILED: cannot reverse `{migration['command']}`: {name} is gone"
    if state.status != "running":
        if phase in EXPOSED_PHASES:  # it still carries the live alias: drop it before starting it again
            containers.disconnect(plan.network, name)
            containers.start(name)
            docker.connect_network(name, plan.network)
        else:
            containers.start(name)
        _wait_running(name)
    try:
        target = migrate.reverse(migrate.Migration(**migration))
    except PlatformError as error:
        return False, f"FAILED: database NOT restored: {error}"
    return True, f"database downgraded to {target}"


def _wait_running(name, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = containers.inspect(name)
        if state is not None and state.status == "running":
            return
        time.sleep(0.2)


def remove_leftovers(settings, project: str, environment: str) -> list[str]:
    """What a process killed outside a journaled step leaves: half-written files, backup debris."""
    found = []
    for directory in (state_dir(settings, project, environment), layout.backup_dir(settings, project, environment)):
        found += [f"removed half-written {directory / name}" for name in remove_partials(directory)]
    helpers = volumes.remove_leftover_helpers(project, environment)
    if helpers:
        found.append(f"removed {helpers} backup helper container(s) of an interrupted backup")
    incomplete = prune.remove_orphans(settings, project, environment).orphans_removed
    if incomplete:
        found.append(f"removed incomplete backup(s) {', '.join(incomplete)}")
    return found


def _finish_switch(plan, old_names) -> list[str]:
    """Traffic had moved to the candidates: complete the renames the killed deploy did not get to."""
    for role in plan.roles:
        if containers.inspect(role.new_name) is None:
            continue  # already renamed
        containers.remove(role.live_name)
        containers.rename(role.new_name, role.live_name)
    return [f"finished the switch: {', '.join(role.live_name for role in plan.roles)} serve the new version"]


def recover(settings, project: str, environment: str, report) -> bool:
    """Clean up after a killed deploy of project/environment; False when there was none."""
    for line in remove_leftovers(settings, project, environment):
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
    if phase == "switched":
        actions = _finish_switch(plan, entry["old_names"])
        status = "interrupted_completed"
    else:
        actions = undo(settings, plan, phase, entry["old_names"], entry["migrations"])
        status = "interrupted_rolled_back"
    for action in actions:
        report.line(f"  {action}")
    manifest.record(settings, project, environment, {
        "deploy_id": entry["deploy_id"],
        "version": entry["tag"],
        "deployed_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": status,
        "images": entry.get("images", {}),
        "backup": entry.get("backup"),
        "failure": f"deploy process stopped during {phase}",
        "rollback": actions,
    }, current=status == "interrupted_completed")
    journal.clear(settings, project, environment)
    return True
