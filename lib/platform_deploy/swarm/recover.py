"""Undo a deploy on a swarm that failed or was killed, leaving the live services serving.

The journal holds no spec (specs carry the env file's secrets): Swarm keeps each service's
previous spec itself, and a live service whose tasks carry this deploy's id was rolled by it.
"""

from ..deploy import migrate
from ..deploy.recover import RESTORE_ADVICE, close, put_back_restored_data, read_journal, reverse_migrations
from ..deploy.scrubbing import scrubber
from ..errors import PlatformError
from ..naming import network_labels
from ..report import Scrubbed
from ..state.records import Outcome, Phase, Status, all_done, done, needs_human, retry_later
from . import rollout, services

ROLLBACK_TIMEOUT = 120   # seconds for the swarm to bring a re-posted spec's tasks up


def undo(engine, roles, deploy_id: str, phase: Phase, jobs, migrations, act, reversed_one=lambda migration: None,
         give_up: bool = False) -> bool:
    """Put the live services back as they were, reverse the migrations, remove the candidates, ``act``-ing each
    Action. False when a migration could not be reversed yet (the candidates stay: their image reverses it)."""
    if phase.exposed:
        for role in roles:
            act(_put_back(engine, role.live_name, deploy_id))
    retry = reverse_migrations(migrations, lambda migration: _reverse(jobs, migration), act, reversed_one, give_up)
    names = ", ".join(role.new_name for role in roles)
    if retry:
        act(retry_later(f"kept {names} for deploy.recover: their image reverses the migration"))
        return False
    for role in roles:
        engine.remove_service(role.new_name)
    act(done(f"removed {names}"))
    return True


def _put_back(engine, name: str, deploy_id: str):
    state = engine.service(name)
    if state is None or _deploy_of(state.spec) != deploy_id:
        return done(f"{name} untouched")   # not rolled yet when the deploy stopped
    if not state.previous_spec:   # this deploy created it: there was nothing before
        engine.remove_service(name)
        return done(f"removed {name} (first deploy)")
    engine.repost_service(name, state.previous_spec)
    labels = dict(state.previous_spec.get("Labels") or {})
    if rollout.DEPLOY_ID_LABEL in labels:
        rollout.wait_up(engine, name, labels, state.replicas or 1, ROLLBACK_TIMEOUT)
    return done(f"{name} back on {state.previous_spec['TaskTemplate']['ContainerSpec']['Image'].split('@')[0]}")


def _deploy_of(spec) -> str | None:
    return (spec["TaskTemplate"].get("ContainerSpec") or {}).get("Labels", {}).get(rollout.DEPLOY_ID_LABEL)


def _reverse(jobs, migration):
    try:
        target = migrate.reverse(jobs, migration)
    except migrate.Irreversible as error:
        return needs_human(f"database NOT restored: {error}; {RESTORE_ADVICE}")
    except KeyError:
        return needs_human(f"cannot reverse `{migration.command}`: {migration.container} is gone; {RESTORE_ADVICE}")
    except PlatformError as error:
        return retry_later(f"database NOT restored: {error}")
    return done(f"database downgraded to {target}")


def remove_leftovers(engine, project: str, environment: str) -> list[str]:
    """The jobs of a killed deploy (a migration command, say): they would run on to no purpose."""
    found = []
    for state in engine.services({**network_labels(project, environment), services.JOB_LABEL: "true"}):
        engine.remove_service(state.name)
        found.append(f"removed job {state.name} of an interrupted deploy")
    return found


def recover(engine, settings, project, environment: str, report, give_up: bool = False, scrub=None) -> bool:
    """Finish or undo a killed deploy of ``project`` in ``environment`` from its journal; False when none."""
    scrub = scrub or scrubber(settings, project, environment)
    report = Scrubbed(report, scrub)
    for line in remove_leftovers(engine, project.name, environment):
        report.line(line)
    entry = read_journal(settings, project.name, environment)
    if entry is None:
        return False
    report.line(f"found interrupted deploy {entry.deploy_id} (stopped during {entry.phase.value}); cleaning up")
    actions = []

    def act(action):
        actions.append(action)
        report.line(f"  {action}")

    if entry.phase is Phase.SWITCHED:
        for role in entry.roles:
            engine.remove_service(role.new_name)
        act(done(f"finished the switch: {', '.join(role.live_name for role in entry.roles)} serve the new version"))
        status = Status.INTERRUPTED_COMPLETED
    else:
        jobs = services.CandidateJobs(engine, {role.new_name: services.spec_of(state) for role in entry.roles
                                               if (state := engine.service(role.new_name)) is not None})
        if entry.phase is not Phase.PREPARE and not undo(engine, entry.roles, entry.deploy_id, entry.phase, jobs,
                                                         list(entry.migrations), act, give_up=give_up):
            raise PlatformError(scrub(
                f"{project.name}/{environment}: interrupted deploy {entry.deploy_id} is not undone yet "
                f"({'; '.join(str(a) for a in actions if a.outcome is not Outcome.DONE)}); run `invoke "
                f"deploy.recover --project {project.name} --env {environment}` again once that works, or add "
                "--abandon to remove its services and restore the database from the backup instead"))
        put_back_restored_data(engine, settings, project.name, environment, entry, act)
        status = Status.INTERRUPTED_ROLLED_BACK if all_done(actions) else Status.ROLLBACK_FAILED
    close(settings, project.name, environment, entry, status, actions, scrub)
    return True
