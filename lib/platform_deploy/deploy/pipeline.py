"""The deploy: the steps of steps.py in order, each timed and reported, and the rollback when one fails.

Candidates start beside the live containers and take no traffic until the
switch, so a failure up to there only has to remove them (and reverse
migrations). The journal records each change before it is made; a deploy
killed at any instant is finished or undone by `recover` on the next run.

Step 2 is the deploy's ``Preparation``: a backup of what runs now, unless the
caller hands in another (a restore saves the current state and writes the
backup's data instead; see restore.py). Everything else a restore changes is an
``Options`` field: where the images come from and what the manifest records.
"""

import functools
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from .. import notify, steps
from ..backup import create as backup
from ..backup import prune as backup_prune
from ..engine import ContainerSpec
from ..envfiles import read_env
from ..errors import PlatformError
from ..naming import network_labels, retired_name
from ..nginx import files, live
from ..plan import deployed_by, git_sha_from, make_plan, new_deploy_id
from ..redact import url_credentials
from ..report import Scrubbed
from ..state import journal, manifest
from ..state.lock import DeployLock
from ..state.records import (Action, Attempt, JournalEntry, Migration, Phase, PutBack, Status, StepRecord,
                             StepStatus, all_done, retry_later)
from ..textutil import utc_timestamp
from . import database, migrate, preflight, probes, recover, scrubbing, switch

REVISION_LABEL = "org.opencontainers.image.revision"


@dataclass(frozen=True)
class Options:
    tag: str = "latest"
    force: bool = False
    skip_backup: bool = False
    pull: bool = True          # False: the tag is local only (a restore deploys backup_* tags)
    restored_from: str | None = None   # recorded in the manifest (and kept by prune): a restore's backup
    git_sha: str | None = None         # recorded; default: GIT_SHA, GITHUB_SHA, else the image's revision label


class DeployFailed(PlatformError):
    """The deploy did not go live; the message is the one-line summary."""


class Interrupted(BaseException):
    """SIGTERM during a deploy: roll back like a failure, then exit."""


@dataclass(frozen=True)
class Prepared:
    """What step 2 did: its report line, the backup of the state before, whether --force skipped a failure."""

    detail: str
    backup: str | None = None
    forced: bool = False


class Preparation(Protocol):
    def prepare(self, engine, settings, project, plan, deployed_by: str, git_sha: str | None,
                remember: Callable[[PutBack], None], progress: Callable[[int, int | None], None]) -> Prepared:
        """Step 2, before anything of the deploy changes. Data it writes over is ``remember``ed (journaled)
        before each write, so that a recovery can put it back; ``progress(bytes, total or None)`` hears
        the bytes it moves."""

    def put_back(self) -> str:
        """After a deploy that did not go live: undo what ``prepare`` changed; what happened ("" when nothing)."""


@dataclass(frozen=True)
class BackupFirst:
    """Step 2 of a deploy: back up what runs now; --skip-backup skips it, --force goes on without it."""

    skip: bool = False
    force: bool = False

    def prepare(self, engine, settings, project, plan, deployed_by: str, git_sha: str | None,
                remember: Callable[[PutBack], None], progress: Callable[[int, int | None], None]) -> Prepared:
        if self.skip:
            return Prepared("skipped (--skip-backup)")
        try:
            meta = backup.create(engine, settings, plan, deployed_by, git_sha, project=project, progress=progress)
        except PlatformError as error:
            if not self.force:
                raise PlatformError(f"backup failed: {error}") from None
            return Prepared(f"FAILED, forced past: {error}", forced=True)
        if meta is None:
            return Prepared("nothing live yet")
        return Prepared(meta["name"], backup=meta["name"])

    def put_back(self) -> str:
        return ""   # a backup changes nothing that is live


@dataclass
class Progress:
    """What this attempt has done so far; becomes its manifest record."""

    steps: list[StepRecord] = field(default_factory=list)
    images: dict = field(default_factory=dict)
    image_ids: dict = field(default_factory=dict)
    image_digests: dict = field(default_factory=dict)
    migrations: list[Migration] = field(default_factory=list)
    reversed: list[Migration] = field(default_factory=list)   # undone by the rollback (the journal drops them)
    backup: str | None = None
    forced: bool = False
    actions: list[Action] = field(default_factory=list)

    @property
    def unreversed(self) -> list[Migration]:
        return [migration for migration in self.migrations if migration not in self.reversed]


class Deployment:
    def __init__(self, engine, settings, registry, project_name: str, environment: str, options: Options, report,
                 preparation: Preparation | None = None):
        self.engine = engine
        self.settings = settings
        self.registry = registry
        self.project = registry.project(project_name)
        self.options = options
        # What this deploy prints and records (report lines, step details, the failure, rollback actions,
        # notifications) may quote containers' output and engine errors: none of it may show the project's
        # env values (read here, and again at step 3 after a restore's step 2 may have written them; a file
        # that cannot be read fails the pre-flight) or control characters. Its public names stay.
        self.scrub = scrubbing.scrubber(settings, self.project, environment)
        self.report = Scrubbed(report, lambda text: self.scrub(text))
        self.preparation = preparation or BackupFirst(skip=options.skip_backup, force=options.force)
        self.plan = make_plan(self.project, environment, options.tag, new_deploy_id())
        # Refused here, before the lock, a backup or a pull: the entry may name no other database container.
        self.project.database_target(environment, settings.postgres_container)
        self.progress = Progress()
        self.old_names: list[str] = []
        self.closed = switch.Closed()    # the replaced containers, retired once the deploy has reported
        self._guarding: Future | None = None   # the switch's guard, started with the migrations
        self.healthy_before_migrations: frozenset[str] = frozenset()   # candidates whose HEALTHCHECK passed
        self.put_back: PutBack | None = None   # what a restore's step 2 wrote over
        self.phase = Phase.STARTED
        self.by = deployed_by()
        self.git_sha = options.git_sha or git_sha_from()
        self.started_at = utc_timestamp()

    # -- running ---------------------------------------------------------------------------------

    def run(self) -> Attempt:
        plan = self.plan
        with DeployLock(self.settings, plan.project, plan.environment):
            self._recover()
            started = time.monotonic()
            notify.notify(self.settings, "start", plan.project, plan.environment,
                          version=plan.tag, deploy_id=plan.deploy_id, deployed_by=self.by)
            # Python lets only the main thread set signal handlers; a deploy run from another
            # thread (a test, an embedding program) goes without the SIGTERM rollback.
            in_main_thread = threading.current_thread() is threading.main_thread()
            previous_handler = signal.signal(signal.SIGTERM, _raise_interrupted) if in_main_thread else None
            try:
                self._steps()
            except BaseException as error:  # anything, a bug included, must leave the live version serving
                return self._fail(failure_reason(error), started, error)
            finally:
                if in_main_thread:
                    signal.signal(signal.SIGTERM, previous_handler)
            return self._succeed(started)

    def _recover(self) -> None:
        """What a killed deploy of this project/environment left: finished or undone before this one starts."""
        recover.recover(self.engine, self.settings, self.project, self.plan.environment, self.report,
                        scrub=self.scrub)

    def _succeed(self, started: float) -> Attempt:
        plan = self.plan
        attempt = self._attempt(Status.SUCCESS, started)
        manifest.record(self.settings, plan.project, plan.environment, attempt, current=True)
        journal.clear(self.settings, plan.project, plan.environment)
        self._report(steps.MANIFEST, StepStatus.OK, 0.0,
                     manifest.path(self.settings, plan.project, plan.environment).as_posix())
        notify.notify(self.settings, "success", plan.project, plan.environment, version=plan.tag,
                      deploy_id=plan.deploy_id, duration_seconds=attempt.duration_seconds)
        self.report.summary(f"deployed {plan.project}/{plan.environment} {plan.tag!r} in "
                            f"{attempt.duration_seconds:.1f}s; serving {self._serving()}")
        self._lift_guard()        # reported: only drains and timers are left to run out
        self._retire_replaced()
        return attempt

    def _steps(self):
        actions = {steps.PREFLIGHT: self._preflight, steps.BACKUP: self._prepare, steps.PULL: self._pull,
                   steps.START: self._start, steps.MIGRATIONS: self._migrate, steps.HEALTH: self._health,
                   steps.SMOKE: self._smoke, steps.SWITCH: self._switch, steps.CLEANUP: self._cleanup}
        for step in steps.STEPS:
            if step in actions:   # the manifest step is run() itself, once the attempt is a success
                self._step(step, actions[step])

    def _step(self, step: steps.Step, action):
        started = time.monotonic()
        status, detail = StepStatus.OK, ""
        self.report.started(step.number, step.name)
        try:
            detail = action() or ""
        except BaseException as error:
            interrupted = isinstance(error, (Interrupted, KeyboardInterrupt))
            status = StepStatus.INTERRUPTED if interrupted else StepStatus.FAILED
            detail = failure_reason(error)
            raise
        finally:
            seconds, detail = round(time.monotonic() - started, 2), self.scrub(detail)
            self.progress.steps.append(StepRecord(step.number, step.name, status, seconds, detail))
            self._report(step, status, seconds, detail)

    def _report(self, step: steps.Step, status: StepStatus, seconds: float, detail: str) -> None:
        self.report.step(step.number, step.name, status.value, seconds, detail)

    def _journal(self, phase: Phase):
        self.phase = phase
        journal.write(self.settings, self.plan.project, self.plan.environment, JournalEntry(
            deploy_id=self.plan.deploy_id, phase=phase, tag=self.plan.tag, network=self.plan.network,
            roles=self.plan.role_names, started_at=self.started_at, old_names=tuple(self.old_names),
            migrations=tuple(self.progress.unreversed), images=dict(self.progress.images),
            backup=self.progress.backup, put_back=self.put_back))

    # -- steps -----------------------------------------------------------------------------------

    def _preflight(self) -> str:
        checks = self._checks()
        for check in checks:
            self.report.check(check)
        failed = [check.name for check in checks if not check.ok and not check.skipped]
        if failed and not self.options.force:
            raise PlatformError(f"pre-flight failed ({', '.join(failed)}); fix it, or deploy anyway with --force")
        if failed:
            self.progress.forced = True
            return f"FORCED past: {', '.join(failed)}"
        return f"{len(checks)} checks"

    def _checks(self) -> list[preflight.Check]:
        return preflight.run_checks(
            self.settings, self.project, self.plan.environment,
            docker_root=Path(self.engine.data_root()),
            min_free_bytes=int(self.settings.min_free_gb * 1e9),
            nginx_test=lambda: live.test_config(self.engine, self.settings),
            registry=self.registry,
        )

    def _prepare(self) -> str:
        prepared = self.preparation.prepare(self.engine, self.settings, self.project, self.plan, self.by,
                                            self.git_sha, self._remember_put_back, self.report.transferred)
        self.progress.backup = prepared.backup
        self.progress.forced = self.progress.forced or prepared.forced
        return prepared.detail

    def _remember_put_back(self, record: PutBack) -> None:
        self.put_back = record
        self._journal(Phase.PREPARE)

    def _pull(self) -> str:
        self._journal(Phase.PULL)
        progress = self.progress
        with ThreadPoolExecutor(max_workers=len(self.plan.roles)) as pool:   # the roles' images side by side
            image_ids = list(pool.map(self._image_of, self.plan.roles))
        for role, image_id in zip(self.plan.roles, image_ids):
            image = self.engine.image(image_id)
            progress.images[role.role] = role.image
            progress.image_ids[role.role] = image_id
            progress.image_digests[role.role] = image.digest
            self.git_sha = self.git_sha or image.labels.get(REVISION_LABEL)
        return ", ".join(progress.images.values())

    def _image_of(self, role) -> str:
        """The id of the role's image: pulled, or (a restore) the one already here."""
        if self.options.pull:
            return self.engine.pull(role.repository, self.plan.tag)
        local = self.engine.image(role.image)
        if local is None:
            raise PlatformError(f"image {role.image} is not on this machine")
        return local.id

    def _start(self) -> str:
        plan = self.plan
        self.engine.ensure_network(plan.network, network_labels(plan.project, plan.environment),
                                   self.settings.subnet_pool)
        for service in self._platform_services():
            self.engine.connect(service, plan.network)
        env = {role.role: read_env(self.settings, self.project, plan.environment, self.project.container(role.role))
               for role in plan.roles}
        self.scrub = self.scrub.including(*env.values())
        merged = {key: value for role_env in env.values() for key, value in role_env.items()}
        database_note = database.ensure(self.engine, self.settings, self.project, plan.environment, merged)
        self._journal(Phase.START)
        specs = [ContainerSpec(name=role.new_name, image=role.image, network=plan.network,
                               environment=env[role.role], labels=plan.labels(role.role), volumes=role.volumes,
                               cpu_shares=switch.WARMING_CPU_SHARES)
                 for role in plan.roles]
        with ThreadPoolExecutor(max_workers=len(specs)) as pool:
            list(pool.map(self.engine.run, specs))
        return f"{', '.join(role.new_name for role in plan.roles)}; {database_note}"

    def _platform_services(self) -> list[str]:
        services = [self.settings.nginx_container]
        target = self.project.database_target(self.plan.environment, self.settings.postgres_container)
        if target is not None:
            services.append(target.container)
        return services

    def _migrate(self) -> str:
        self._journal(Phase.MIGRATE)
        self._start_guard()
        # The candidates' HEALTHCHECKs run meanwhile: when no migration command runs, the database stays as
        # they found it, and their passes count for the health step (most deploys change no schema).
        with ThreadPoolExecutor(max_workers=1) as pool:
            early = pool.submit(probes.passing_healthchecks, self.engine, self.plan.roles)
            done, ran = self._run_migrations()
            self.healthy_before_migrations = frozenset() if ran else early.result()
        return "; ".join(done) or "none"

    def _run_migrations(self) -> tuple[list[str], list[Migration]]:
        """What each role's migration did, and the commands that ran."""
        done, ran = [], []
        for role in self.plan.roles:
            # Journaled before the command runs, too: the command goes on inside the container
            # when this process is killed, and recovery must still be able to reverse it.
            remember = functools.partial(self._remember_migration, len(self.progress.migrations))

            def started(migration, remember=remember, role=role):
                ran.append(migration)
                remember(migration)
                self.report.awaiting(f"{role.role}: {migration.command}")
            try:
                result = migrate.run(self._migration_engine(), role, started=started)
            except migrate.MigrationFailed as error:
                remember(error.migration)
                raise
            if result is not None:
                remember(result)
                done.append(f"{role.role}: {result.before or 'base'} -> {result.after or '?'}")
        return done, ran

    def _migration_engine(self):
        """Where migrate.py runs its commands: the candidates' own containers here."""
        return self.engine

    def _remember_migration(self, slot: int, migration: Migration):
        del self.progress.migrations[slot:]
        self.progress.migrations.append(migration)
        self._journal(Phase.MIGRATE)

    def _forget_reversed(self, migration: Migration):
        self.progress.reversed.append(migration)
        self._journal(self.phase)

    def _health(self) -> str:
        passed = probes.wait_healthy(self.engine, self.settings, self.plan.roles, self.healthy_before_migrations,
                                     self.report.awaiting)
        return "; ".join(f"{role}: {how}" for role, how in passed.items())

    def _smoke(self) -> str:
        with ThreadPoolExecutor(max_workers=len(self.plan.roles)) as pool:
            passed = list(pool.map(lambda role: probes.smoke_test(self.engine, self.settings, role), self.plan.roles))
        return "; ".join(f"{role.role}: {', '.join(paths)}" for role, paths in zip(self.plan.roles, passed))

    def _start_guard(self) -> None:
        """The switch's guard starts while the migrations, health checks and smoke tests run, so that its
        container's start-up is off the critical path (it takes 0.1-0.2 s of CPU on two cores wherever it
        goes); in place early, it only keeps nginx where it is already."""
        pool = ThreadPoolExecutor(max_workers=1)
        self._guarding = pool.submit(switch.guard, self.engine, self.plan.network, self.plan.role_names,
                                     self._helpers())
        pool.shutdown(wait=False)   # the thread ends with the guard's start

    def _guard(self) -> switch.Guard | None:
        """The guard started with the migrations (None without one, or when it could not be put in place)."""
        try:
            return self._guarding.result() if self._guarding is not None else None
        except PlatformError:   # the engine went away, say: the switch or the rollback says so in its turn
            return None

    def _lift_guard(self) -> None:
        if (guard := self._guard()) is not None:
            switch.lift(self.engine, guard.id)

    def _switch(self) -> str:
        plan, roles = self.plan, self.plan.role_names
        if files.plan(self.settings, self.registry, only=plan.project).write:
            live.generate_and_reload(self.engine, self.settings, self.registry, only=plan.project)
        self.old_names = switch.live_containers(self.engine, roles)
        self._journal(Phase.SWITCHING)
        guard = self._guard()   # in place before the candidates get the live name
        exposed_at = switch.expose(self.engine, plan.network, roles)
        switch.open_guard(self.engine, guard)
        self.closed = switch.hand_over(self.engine, plan.network, roles, self.old_names, self._helpers(), exposed_at,
                                       {role.live_name: role.drain_timeout for role in plan.roles})
        domain, tls = self._check_target()
        # With nothing replaced nginx may still hold an answer from before the names resolved: ask again.
        unsettled = 0.0 if self.closed.ids else switch.settled_after(exposed_at) - time.time()
        response = probes.through_nginx(self.engine, self.settings, domain, tls, within=unsettled)
        if not probes.served(response):
            raise PlatformError(f"request through {self.settings.nginx_container} for {domain} got "
                                f"{response.status or 'no response'} after the switch; switched back")
        self._journal(Phase.SWITCHED)
        switch.finish(self.engine, roles, self.old_names, self._retired_name)
        return f"{domain} -> {response.status}; replaced {', '.join(self.old_names) or 'nothing (first deploy)'}"

    def _helpers(self) -> switch.Helpers | None:
        return switch.helpers_for(self.engine, self.settings, self.plan.labels(switch.HELPER_ROLE))

    def _retired_name(self, live_name: str) -> str:
        return retired_name(live_name, self.plan.deploy_id)

    def _check_target(self) -> tuple[str, bool]:
        domain = next((d for d in self.plan.domains if not d.startswith("*.")),
                      self.plan.domains[0].replace("*", "www", 1))
        has_certificate = files.has_certificate_in(self.settings.certs_dir)
        return domain, has_certificate(self.plan.domains[0].removeprefix("*."))

    def _cleanup(self) -> str:
        """Housekeeping after the switch: a failure here is reported, never a reason to fail the deploy."""
        pruned = backup_prune.after_deploy(self.engine, self.settings, self.plan.project, self.plan.environment,
                                           protect=(self.progress.backup, self.options.restored_from))
        try:
            reclaimed = f"{self.engine.prune_dangling() / 1e6:.1f} MB reclaimed"
        except PlatformError as error:
            reclaimed = f"NOT pruned: {error}"
        return f"{pruned}; dangling images: {reclaimed}"

    # -- failure ---------------------------------------------------------------------------------

    def _fail(self, reason: str, started: float, error) -> Attempt:
        plan, reason = self.plan, self.scrub(reason)
        self._lift_guard()   # a smoke test failed with the guard up, say
        moved = self.phase is Phase.SWITCHED   # traffic moved and was confirmed: finish rather than undo
        settled = True
        if self.phase not in (Phase.STARTED, Phase.PREPARE):   # there are candidates to remove
            settle_started, name = time.monotonic(), "finish the switch" if moved else "rollback"
            self.report.started(steps.ROLLBACK, name)
            settled = self._settle(moved)
            status = StepStatus.OK if all_done(self.progress.actions) else StepStatus.FAILED
            self.report.step(steps.ROLLBACK, name, status.value, round(time.monotonic() - settle_started, 2),
                             "; ".join(str(action) for action in self.progress.actions))
        # A restore's data goes back while the journal still says what it wrote over; when the rollback
        # is not complete, `recover` does it after (the journal stays).
        note = self.preparation.put_back() if settled and not moved else ""
        if settled:
            journal.clear(self.settings, plan.project, plan.environment)
        # else the journal stays: `deploy.recover` (or the next deploy) finishes what is left
        outcome = self._failure_status(moved, settled)
        attempt = self._attempt(outcome, started, failure=reason)
        manifest.record(self.settings, plan.project, plan.environment, attempt,
                        current=outcome is Status.INTERRUPTED_COMPLETED)
        event = {Status.ABORTED: "failure", Status.INTERRUPTED_COMPLETED: "success"}.get(outcome, "rollback")
        notify.notify(self.settings, event, plan.project, plan.environment, version=plan.tag,
                      deploy_id=plan.deploy_id, failure=reason, status=outcome.value)
        summary = (f"deploy of {plan.project}/{plan.environment} {plan.tag!r} {outcome.value.replace('_', ' ')}: "
                   f"{reason}; serving {self._serving()}")
        if not settled:
            summary += (f"; once that is fixed run `invoke deploy.recover --project {plan.project} "
                        f"--env {plan.environment}` (the next deploy also does it)")
        self.report.summary(summary)
        if note:
            self.report.line(note)
        if moved:
            self._retire_replaced()
        if not isinstance(error, (PlatformError, Interrupted, KeyboardInterrupt)):
            raise error  # a bug: keep its traceback
        raise DeployFailed(self.scrub(f"{summary}; {note}" if note else summary)) from None

    def _retire_replaced(self) -> None:
        """Stop and remove the replaced containers, now serving nothing; a failure here is reported, and
        the next run (deploy or deploy.recover) retires what is left."""
        try:
            switch.retire(self.engine, self.closed, remove=True)
        except PlatformError as error:
            self.report.line(f"the replaced containers are not retired yet ({failure_reason(error)}); the next deploy "
                             f"or `invoke deploy.recover --project {self.plan.project} --env {self.plan.environment}` "
                             "does it")

    def _settle(self, moved: bool) -> bool:
        """Finish the switch or roll back; False when that could not be completed now (recover will)."""
        act = self.progress.actions.append
        try:
            if moved:
                act(recover.finish_switch(self.engine, self.plan.role_names, self._retired_name))
                return True
            return recover.undo(self.engine, self.plan.network, self.plan.role_names, self.phase, self.old_names,
                                self.progress.unreversed, act, reversed_one=self._forget_reversed,
                                helpers=self._helpers())
        except Exception as error:  # noqa: BLE001 - the engine gone, say: recover retries later
            act(retry_later(f"stopped: {failure_reason(error)}"))
            return False

    def _failure_status(self, moved: bool, settled: bool) -> Status:
        if self.phase in (Phase.STARTED, Phase.PREPARE):   # nothing but a restore's data, put back
            return Status.ABORTED
        if not settled or not all_done(self.progress.actions):
            return Status.ROLLBACK_FAILED
        return Status.INTERRUPTED_COMPLETED if moved else Status.ROLLED_BACK

    # -- reporting -------------------------------------------------------------------------------

    def _attempt(self, status: Status, started: float, failure: str | None = None) -> Attempt:
        progress = self.progress
        return Attempt(
            deploy_id=self.plan.deploy_id, version=self.plan.tag, deployed_at=utc_timestamp(), deployed_by=self.by,
            git_sha=self.git_sha, backup=progress.backup, images=dict(progress.images),
            image_digests=dict(progress.image_digests), image_ids=dict(progress.image_ids), status=status,
            duration_seconds=round(time.monotonic() - started, 2), steps=tuple(progress.steps),
            migrations=tuple(progress.migrations), forced=progress.forced, skip_backup=self.options.skip_backup,
            restored_from=self.options.restored_from, failure=failure,
            rollback=tuple(self.scrub(str(action)) for action in progress.actions))

    def _serving(self) -> str:
        serving = []
        for role in self.plan.roles:
            try:
                state = self.engine.inspect(role.live_name)
            except PlatformError as error:  # only a description; the failure is reported already
                return f"unknown ({failure_reason(error)})"
            if state is not None and state.running:
                serving.append(f"{role.live_name} ({state.image_ref})")
        return ", ".join(serving) or "nothing (no live containers)"


def failure_reason(error: BaseException) -> str:
    """An error as the one-line reason a failed step or deploy gives."""
    if isinstance(error, PlatformError):
        return url_credentials(str(error))
    if isinstance(error, (Interrupted, KeyboardInterrupt)):
        return "interrupted"
    return f"internal error: {type(error).__name__}: {error}"


def _raise_interrupted(signum, frame):
    raise Interrupted()
