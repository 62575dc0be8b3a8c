"""Undo a deploy that failed or was killed, leaving the live version serving.

``undo`` is the rollback of a running deploy; ``recover`` reads the journal a
killed deploy left behind and either finishes its switch (traffic had already
moved) or undoes it. `invoke deploy.recover` runs only the latter. Each action
is an ``Action``: done, to retry later (recover keeps the journal), or needing
a human (its text says what to do).
"""

import time
from dataclasses import replace

from ..backup import layout, prune, volumes
from ..errors import PlatformError
from ..fsutil import remove_partials
from ..naming import LEGACY_HELPER_ROLE, is_retired, network_labels, network_name, retired_name, role_labels
from ..report import Scrubbed
from ..state import journal, manifest
from ..state.paths import state_dir
from ..state.records import (Action, Attempt, Migration, Outcome, Phase, Status, UnreadableState, all_done, done,
                             needs_human, retry_later)
from ..textutil import utc_timestamp
from . import migrate, putback, scrubbing, switch

RESTORE_ADVICE = "restore it from the backup's dump (invoke backup.restore --with-database)"


def undo(engine, network: str, roles, phase: Phase, old_names, migrations: list[Migration], act,
         reversed_one=lambda migration: None, give_up: bool = False, helpers=None) -> bool:
    """Put the live version back in charge, ``act``-ing each Action taken.

    Returns False when a migration could not be reversed yet but may be later: the
    candidates are then kept, stopped, because their scripts do the downgrade. With
    ``give_up`` they are removed anyway. ``reversed_one(migration)`` follows each
    successful reversal, so the caller's journal can forget it. ``helpers``: see
    switch.retire.
    """
    if phase.exposed:
        switch.hand_back(engine, network, roles, old_names, helpers)
        act(done(f"traffic back on {', '.join(old_names) or 'nothing (first deploy)'}"))
    retry = reverse_migrations(migrations, lambda migration: _reverse(engine, network, phase, migration), act,
                               reversed_one, give_up)
    names = ", ".join(role.new_name for role in roles)
    if retry:
        for role in roles:
            engine.stop(role.new_name)
        act(retry_later(f"kept {names} (stopped) for deploy.recover: their scripts reverse the migration"))
        return False
    for role in roles:
        engine.remove(role.new_name)
    act(done(f"removed {names}"))
    return True


def reverse_migrations(migrations, reverse, act, reversed_one, give_up: bool) -> bool:
    """``reverse`` each migration, newest first, ``act``-ing each Action; True when one is to retry later
    (with ``give_up``, it needs a human instead)."""
    retry = False
    for migration in reversed(migrations):
        action = reverse(migration)
        if action.outcome is Outcome.DONE:
            reversed_one(migration)
        elif action.outcome is Outcome.RETRY_LATER and give_up:
            action = needs_human(f"{action.text}; {RESTORE_ADVICE}")
        retry = retry or action.outcome is Outcome.RETRY_LATER
        act(action)
    return retry


def _reverse(engine, network: str, phase: Phase, migration: Migration) -> Action:
    name = migration.container
    state = engine.inspect(name)
    if state is None:
        return needs_human(f"cannot reverse `{migration.command}`: {name} is gone; {RESTORE_ADVICE}")
    if not state.running:
        if phase.exposed:  # it still carries the live alias: drop it before starting it again
            engine.disconnect(name, network)
            engine.start(name)
            engine.connect(name, network)
        else:
            engine.start(name)
        _wait_running(engine, name)
    try:
        target = migrate.reverse(engine, migration)
    except migrate.Irreversible as error:
        return needs_human(f"database NOT restored: {error}; {RESTORE_ADVICE}")
    except PlatformError as error:
        return retry_later(f"database NOT restored: {error}")
    return done(f"database downgraded to {target}")


def _wait_running(engine, name, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = engine.inspect(name)
        if state is not None and state.running:
            return
        time.sleep(0.2)


def remove_leftovers(engine, settings, project: str, environment: str) -> list[str]:
    """What a process killed outside a journaled step leaves: half-written files, backup debris, switch
    helpers, holds beside nginx, and the containers a deploy replaced but did not get to retire."""
    found = []
    for directory in (state_dir(settings, project, environment), layout.backup_dir(settings, project, environment)):
        found += [f"removed half-written {directory / name}" for name in remove_partials(directory)]
    found += _switch_leftovers(engine, settings, project, environment)
    backup_helpers = volumes.remove_leftover_helpers(engine, project, environment)
    if backup_helpers:
        found.append(f"removed {backup_helpers} backup helper container(s) of an interrupted backup")
    incomplete = prune.remove_orphans(engine, settings, project, environment).orphans_removed
    if incomplete:
        found.append(f"removed incomplete backup(s) {', '.join(incomplete)}")
    return found


def _switch_leftovers(engine, settings, project: str, environment: str) -> list[str]:
    """What a killed switch or retirement leaves: drain helpers, holds beside nginx, replaced containers."""
    found = []
    for role in (switch.HELPER_ROLE, LEGACY_HELPER_ROLE):
        for helper in engine.find(role_labels(project, environment, role)):
            engine.remove(helper.id)
            found.append(f"removed switch helper {helper.name}")
    helpers = switch.helpers_for(engine, settings, role_labels(project, environment, switch.HELPER_ROLE))
    if helpers is not None and engine.find(helpers.hold_labels):
        time.sleep(switch.DNS_LONGEST_SECONDS)   # a held address may have been stopped just before the kill
        found.append(f"lifted {switch.lift_all(engine, helpers)} hold(s) of an interrupted switch")
    retired = {state.name: None for state in engine.find(network_labels(project, environment))
               if is_retired(state.name, environment)}
    if retired:   # drained by the deploy that replaced them (an app still working gets its drain time)
        closed = switch.close(engine, network_name(project, environment), retired, helpers, time.time())
        switch.retire(engine, closed, remove=True)
        for name in retired:   # the ones the killed deploy had stopped already
            engine.remove(name)
        found.append(f"retired {', '.join(retired)}, replaced by an interrupted deploy")
    return found


def finish_switch(engine, roles, retired_name) -> Action:
    """Traffic had moved to the candidates: complete the renames an interrupted deploy did not get to.
    The replaced containers step aside under ``retired_name(live_name)``; remove_leftovers retires them."""
    for role in roles:
        if engine.inspect(role.new_name) is None:
            continue  # already renamed
        if engine.inspect(role.live_name) is not None:
            engine.rename(role.live_name, retired_name(role.live_name))
        engine.set_cpu_shares(role.new_name, switch.SERVING_CPU_SHARES)   # killed before expose raised it, say
        engine.rename(role.new_name, role.live_name)
    return done(f"finished the switch: {', '.join(role.live_name for role in roles)} serve the new version")


def recover(engine, settings, project, environment: str, report, give_up: bool = False, scrub=None) -> bool:
    """Clean up after a killed deploy of ``project`` (the registry's Project) in ``environment``; False when
    there was none.

    Raises (keeping the journal) while a migration cannot be reversed yet, unless ``give_up``. What it
    prints, raises and records quotes engine errors and migration output: ``scrub`` (default: the
    project's, see scrubbing.py; a deploy passes its own) hides the project's env values in all of it.
    """
    scrub = scrub or scrubbing.scrubber(settings, project, environment)
    return _recover(engine, settings, project.name, environment, Scrubbed(report, scrub), give_up, scrub)


def _recover(engine, settings, project: str, environment: str, report, give_up: bool, scrub) -> bool:
    for line in remove_leftovers(engine, settings, project, environment):
        report.line(line)
    entry = read_journal(settings, project, environment)
    if entry is None:
        return False
    report.line(f"found interrupted deploy {entry.deploy_id} (stopped during {entry.phase.value}); cleaning up")
    actions: list[Action] = []

    def act(action: Action):
        actions.append(action)
        report.line(f"  {action}")

    remaining = list(entry.migrations)

    def forget(migration: Migration):
        remaining.remove(migration)
        journal.write(settings, project, environment, replace(entry, migrations=tuple(remaining)))

    if entry.phase is Phase.SWITCHED:
        act(finish_switch(engine, entry.roles, lambda name: retired_name(name, entry.deploy_id)))
        for line in _switch_leftovers(engine, settings, project, environment):
            act(done(line))
        status = Status.INTERRUPTED_COMPLETED
    else:
        helpers = switch.helpers_for(engine, settings, role_labels(project, environment, switch.HELPER_ROLE))
        if entry.phase is not Phase.PREPARE and not undo(
                engine, entry.network, entry.roles, entry.phase, entry.old_names, list(entry.migrations), act,
                forget, give_up, helpers):
            raise PlatformError(scrub(
                f"{project}/{environment}: interrupted deploy {entry.deploy_id} is not undone yet "
                f"({'; '.join(str(a) for a in actions if a.outcome is not Outcome.DONE)}); run `invoke "
                f"deploy.recover --project {project} --env {environment}` again once that works, or add --abandon "
                f"to remove its containers and restore the database from the backup instead"))
        put_back_restored_data(engine, settings, project, environment, entry, act)
        status = Status.INTERRUPTED_ROLLED_BACK if all_done(actions) else Status.ROLLBACK_FAILED
    close(settings, project, environment, entry, status, actions, scrub)
    return True


def put_back_restored_data(engine, settings, project: str, environment: str, entry, act) -> None:
    """A restore that did not go live: the data it wrote goes back as it was."""
    if entry.put_back is not None:
        action = putback.put_back(engine, settings, project, environment, entry.put_back)
        if action is not None:
            act(action)


def read_journal(settings, project: str, environment: str):
    """The journal a killed deploy left, or None; one line to act on when it cannot be read."""
    try:
        return journal.read(settings, project, environment)
    except UnreadableState:
        raise PlatformError(f"{project}/{environment}: the deploy journal is unreadable; inspect what the project "
                            f"runs (label platform.project={project}) and remove the journal by hand") from None


def close(settings, project: str, environment: str, entry, status: Status, actions, scrub) -> None:
    """Record what the recovery of ``entry`` did in the manifest, then drop the journal."""
    manifest.record(settings, project, environment, Attempt(
        deploy_id=entry.deploy_id, version=entry.tag, deployed_at=utc_timestamp(), status=status,
        images=dict(entry.images), backup=entry.backup, failure=f"deploy process stopped during {entry.phase.value}",
        rollback=tuple(scrub(str(action)) for action in actions)), current=status is Status.INTERRUPTED_COMPLETED)
    journal.clear(settings, project, environment)
