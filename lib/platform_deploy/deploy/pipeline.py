"""The deploy: steps in order, each timed and reported, and the rollback when one fails.

    1 pre-flight  2 backup  3 pull  4 start candidates  4.5 migrations
    5 health  5.5 smoke tests  6 switch traffic  7 cleanup  8 manifest

Candidates start beside the live containers and take no traffic until step 6,
so a failure up to there only has to remove them (and reverse migrations).
The journal records each change before it is made; a deploy killed at any
instant is finished or undone by `recover` on the next run.
"""

import functools
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import notify
from ..backup import create as backup
from ..backup import prune as backup_prune
from ..engine import ContainerSpec
from ..errors import PlatformError
from ..naming import network_labels
from ..nginx import files, live
from ..redact import url_credentials
from ..state import journal, manifest
from ..state.lock import DeployLock
from ..textutil import utc_timestamp
from . import database, migrate, preflight, probes, recover, switch
from .plan import deployed_by, make_plan, new_deploy_id


@dataclass(frozen=True)
class Options:
    tag: str = "latest"
    force: bool = False
    skip_backup: bool = False
    pull: bool = True          # False: the tag is local only (a restore deploys backup_* tags)
    restored_from: str | None = None   # set by backup.restore: recorded in the manifest, kept by prune


class DeployFailed(PlatformError):
    """The deploy did not go live; the message is the one-line summary."""


class Interrupted(BaseException):
    """SIGTERM during a deploy: roll back like a failure, then exit."""


@dataclass
class Attempt:
    """What happened so far; becomes the manifest entry."""

    steps: list = field(default_factory=list)
    images: dict = field(default_factory=dict)
    image_ids: dict = field(default_factory=dict)
    image_digests: dict = field(default_factory=dict)
    migrations: list = field(default_factory=list)
    backup: str | None = None
    forced: bool = False
    failure: str | None = None
    rollback: list = field(default_factory=list)


class Deployment:
    def __init__(self, engine, settings, registry, project_name: str, environment: str, options: Options, report):
        self.engine = engine
        self.settings = settings
        self.registry = registry
        self.project = registry.project(project_name)
        self.options = options
        self.report = report
        self.plan = make_plan(self.project, environment, options.tag, new_deploy_id())
        self.attempt = Attempt()
        self.old_names: list[str] = []
        self.reversed: list[dict] = []   # migrations the rollback has undone (the journal drops them)
        self.phase = "started"
        self.by = deployed_by()
        self.git_sha = os.environ.get("GIT_SHA") or os.environ.get("GITHUB_SHA")

    # -- running ---------------------------------------------------------------------------------

    def run(self) -> dict:
        plan = self.plan
        with DeployLock(self.settings, plan.project, plan.environment):
            recover.recover(self.engine, self.settings, plan.project, plan.environment, self.report)
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
                return self._fail(_reason(error), started, error)
            finally:
                if in_main_thread:
                    signal.signal(signal.SIGTERM, previous_handler)
            entry = self._entry("success", started)
            manifest.record(self.settings, plan.project, plan.environment, entry, current=True)
            journal.clear(self.settings, plan.project, plan.environment)
            self.report.step("8", "manifest", "ok", 0.0, manifest.path(self.settings, plan.project,
                                                                          plan.environment).as_posix())
            notify.notify(self.settings, "success", plan.project, plan.environment, version=plan.tag,
                          deploy_id=plan.deploy_id, duration_seconds=entry["duration_seconds"])
            self.report.summary(f"deployed {plan.project}/{plan.environment} {plan.tag!r} in "
                                f"{entry['duration_seconds']:.1f}s; serving {self._serving()}")
            return entry

    def _steps(self):
        self._step("1", "pre-flight", self._preflight)
        self._step("2", "backup", self._backup)
        self._step("3", "pull", self._pull)
        self._step("4", "start candidates", self._start)
        self._step("4.5", "migrations", self._migrate)
        self._step("5", "health", lambda: "; ".join(
            f"{role}: {how}" for role, how in probes.wait_healthy(self.engine, self.settings,
                                                                  self.plan.roles).items()))
        self._step("5.5", "smoke tests", self._smoke)
        self._step("6", "switch traffic", self._switch)
        self._step("7", "cleanup", self._cleanup)

    def _step(self, number: str, name: str, action):
        started = time.monotonic()
        status, detail = "ok", ""
        try:
            detail = action() or ""
        except BaseException as error:
            status = "interrupted" if isinstance(error, (Interrupted, KeyboardInterrupt)) else "failed"
            detail = _reason(error)
            raise
        finally:
            seconds = round(time.monotonic() - started, 2)
            self.attempt.steps.append({"step": number, "name": name, "status": status,
                                       "seconds": seconds, "detail": detail})
            self.report.step(number, name, status, seconds, detail)

    def _journal(self, phase: str):
        self.phase = phase
        journal.write(self.settings, self.plan.project, self.plan.environment, {
            "deploy_id": self.plan.deploy_id,
            "phase": phase,
            "tag": self.plan.tag,
            "network": self.plan.network,
            "roles": [{"role": r.role, "live_name": r.live_name, "new_name": r.new_name} for r in self.plan.roles],
            "old_names": self.old_names,
            "migrations": self._unreversed(),
            "images": self.attempt.images,
            "backup": self.attempt.backup,
            "started_at": utc_timestamp(),
        })

    # -- steps -----------------------------------------------------------------------------------

    def _preflight(self) -> str:
        checks = preflight.run_checks(
            self.settings, self.project, self.plan.environment,
            docker_root=Path(self.engine.data_root()),
            min_free_bytes=int(self.settings.min_free_gb * 1e9),
            nginx_test=lambda: live.test_config(self.engine, self.settings),
            registry=self.registry,
        )
        for check in checks:
            self.report.check(check)
        failed = [check.name for check in checks if not check.ok and not check.skipped]
        if failed and not self.options.force:
            raise PlatformError(f"pre-flight failed ({', '.join(failed)}); fix it, or deploy anyway with --force")
        if failed:
            self.attempt.forced = True
            return f"FORCED past: {', '.join(failed)}"
        return f"{len(checks)} checks"

    def _backup(self) -> str:
        if self.options.skip_backup:
            return "skipped (--skip-backup)"
        try:
            meta = backup.create(self.engine, self.settings, self.plan, self.by, self.git_sha, project=self.project)
        except PlatformError as error:
            if not self.options.force:
                raise PlatformError(f"backup failed: {error}") from None
            self.attempt.forced = True
            return f"FAILED, forced past: {error}"
        if meta is None:
            return "nothing live yet"
        self.attempt.backup = meta["name"]
        return meta["name"]

    def _pull(self) -> str:
        self._journal("pull")
        for role in self.plan.roles:
            if self.options.pull:
                image_id = self.engine.pull(role.repository, self.plan.tag)
            else:
                local = self.engine.image(role.image)
                if local is None:
                    raise PlatformError(f"image {role.image} is not on this machine")
                image_id = local.id
            image = self.engine.image(image_id)
            self.attempt.images[role.role] = role.image
            self.attempt.image_ids[role.role] = image_id
            self.attempt.image_digests[role.role] = image.digest
            self.git_sha = self.git_sha or image.labels.get("org.opencontainers.image.revision")
        return ", ".join(self.attempt.images.values())

    def _start(self) -> str:
        plan = self.plan
        self.engine.ensure_network(plan.network, network_labels(plan.project, plan.environment),
                                   self.settings.subnet_pool)
        for service in self._platform_services():
            self.engine.connect(service, plan.network)
        env = {role.role: preflight.read_env(self.settings, self.project, plan.environment,
                                             self.project.container(role.role)) for role in plan.roles}
        merged = {key: value for role_env in env.values() for key, value in role_env.items()}
        database_note = database.ensure(self.engine, self.settings, self.project, plan.environment, merged)
        self._journal("start")
        for role in plan.roles:
            self.engine.run(ContainerSpec(name=role.new_name, image=role.image, network=plan.network,
                                         environment=env[role.role], labels=plan.labels(role.role),
                                         volumes=role.volumes))
        return f"{', '.join(role.new_name for role in plan.roles)}; {database_note}"

    def _platform_services(self) -> list[str]:
        services = [self.settings.nginx_container]
        if self.project.database is not None:
            services.append(self.project.database.container or self.settings.postgres_container)
        return services

    def _migrate(self) -> str:
        self._journal("migrate")
        done = []
        for role in self.plan.roles:
            # Journaled before the command runs, too: the command goes on inside the container
            # when this process is killed, and recovery must still be able to reverse it.
            remember = functools.partial(self._remember_migration, len(self.attempt.migrations))
            try:
                result = migrate.run(self.engine, role, started=remember)
            except migrate.MigrationFailed as error:
                remember(error.migration)
                raise
            if result is not None:
                remember(result)
                done.append(f"{role.role}: {result.before or 'base'} -> {result.after or '?'}")
        return "; ".join(done) or "none"

    def _unreversed(self) -> list:
        return [migration for migration in self.attempt.migrations if migration not in self.reversed]

    def _forget_reversed(self, migration):
        self.reversed.append(migration)
        self._journal(self.phase)

    def _remember_migration(self, slot: int, migration):
        del self.attempt.migrations[slot:]
        self.attempt.migrations.append(asdict(migration))
        self._journal("migrate")

    def _smoke(self) -> str:
        return "; ".join(f"{role.role}: {', '.join(probes.smoke_test(self.engine, self.settings, role))}"
                         for role in self.plan.roles)

    def _switch(self) -> str:
        plan = self.plan
        if files.plan(self.settings, self.registry, only=plan.project).write:
            live.generate_and_reload(self.engine, self.settings, self.registry, only=plan.project)
        self.old_names = switch.live_containers(self.engine, plan)
        self._journal("switching")
        switch.expose(self.engine, plan)
        switch.hand_over(self.engine, plan.network, self.old_names, self._placeholders())
        domain, tls = self._check_target()
        response = probes.through_nginx(self.engine, self.settings, domain, tls)
        if response.status == 0 or response.status >= 500:
            switch.hand_back(self.engine, plan, self.old_names, self._placeholders())
            self.old_names = []
            raise PlatformError(f"request through {self.settings.nginx_container} for {domain} got "
                                f"{response.status or 'no response'} after the switch; switched back")
        self._journal("switched")
        switch.finish(self.engine, plan, self.old_names)
        return f"{domain} -> {response.status}; replaced {', '.join(self.old_names) or 'nothing (first deploy)'}"

    def _placeholders(self) -> switch.Placeholders | None:
        nginx = self.engine.inspect(self.settings.nginx_container)   # its image has `sleep`, and is local
        if nginx is None:
            return None
        return switch.Placeholders(nginx.image_id, self.plan.labels(switch.PLACEHOLDER_ROLE))

    def _check_target(self) -> tuple[str, bool]:
        domain = next((d for d in self.plan.domains if not d.startswith("*.")),
                      self.plan.domains[0].replace("*", "www", 1))
        has_certificate = files.has_certificate_in(self.settings.certs_dir)
        return domain, has_certificate(self.plan.domains[0].removeprefix("*."))

    def _cleanup(self) -> str:
        pruned = backup_prune.after_deploy(self.engine, self.settings, self.plan.project, self.plan.environment,
                                           protect=(self.attempt.backup, self.options.restored_from))
        reclaimed = self.engine.prune_dangling()
        return f"{pruned}; dangling images: {reclaimed / 1e6:.1f} MB reclaimed"

    # -- failure ---------------------------------------------------------------------------------

    def _fail(self, reason: str, started: float, error) -> dict:
        plan = self.plan
        self.attempt.failure = reason
        moved = self.phase == "switched"   # traffic moved and was confirmed: finish rather than undo
        settled = True
        if self.phase != "started":
            settle_started = time.monotonic()
            settled = self._settle(moved)
            self.report.step("rollback", "finish the switch" if moved else "rollback",
                             "ok" if self._settled_cleanly() else "failed",
                             round(time.monotonic() - settle_started, 2), "; ".join(self.attempt.rollback))
        if settled:
            journal.clear(self.settings, plan.project, plan.environment)
        # else the journal stays: `deploy.recover` (or the next deploy) finishes what is left
        status = self._failure_status(moved, settled)
        entry = self._entry(status, started)
        manifest.record(self.settings, plan.project, plan.environment, entry,
                        current=status == "interrupted_completed")
        event = {"aborted": "failure", "interrupted_completed": "success"}.get(status, "rollback")
        notify.notify(self.settings, event, plan.project, plan.environment, version=plan.tag,
                      deploy_id=plan.deploy_id, failure=reason, status=status)
        summary = (f"deploy of {plan.project}/{plan.environment} {plan.tag!r} {status.replace('_', ' ')}: "
                   f"{reason}; serving {self._serving()}")
        if not settled:
            summary += (f"; once that is fixed run `invoke deploy.recover --project {plan.project} "
                        f"--env {plan.environment}` (the next deploy also does it)")
        self.report.summary(summary)
        if not isinstance(error, (PlatformError, Interrupted, KeyboardInterrupt)):
            raise error  # a bug: keep its traceback
        raise DeployFailed(summary) from None

    def _settle(self, moved: bool) -> bool:
        """Finish the switch or roll back; False when that could not be completed now (recover will)."""
        say = self.attempt.rollback.append
        try:
            if moved:
                recover.finish_switch(self.engine, self.plan, say)
                return True
            return recover.undo(self.engine, self.plan, self.phase, self.old_names, self._unreversed(), say,
                                reversed_one=self._forget_reversed, placeholders=self._placeholders())
        except Exception as error:  # noqa: BLE001 - the Docker engine gone, say: recover retries later
            say(f"FAILED: stopped: {_reason(error)}")
            return False

    def _settled_cleanly(self) -> bool:
        return not any(line.startswith("FAILED") for line in self.attempt.rollback)

    def _failure_status(self, moved: bool, settled: bool) -> str:
        if self.phase == "started":
            return "aborted"
        if not settled or not self._settled_cleanly():
            return "rollback_failed"
        return "interrupted_completed" if moved else "rolled_back"

    # -- reporting -------------------------------------------------------------------------------

    def _entry(self, status: str, started: float) -> dict:
        a = self.attempt
        return {
            "deploy_id": self.plan.deploy_id,
            "version": self.plan.tag,
            "deployed_at": utc_timestamp(),
            "deployed_by": self.by,
            "git_sha": self.git_sha,
            "backup": a.backup,
            "images": a.images,
            "image_digests": a.image_digests,
            "image_ids": a.image_ids,
            "status": status,
            "duration_seconds": round(time.monotonic() - started, 2),
            "steps": a.steps,
            "migrations": a.migrations,
            "forced": a.forced,
            "skip_backup": self.options.skip_backup,
            "restored_from": self.options.restored_from,
            "failure": a.failure,
            "rollback": a.rollback,
        }

    def _serving(self) -> str:
        serving = []
        for role in self.plan.roles:
            try:
                state = self.engine.inspect(role.live_name)
            except Exception as error:  # noqa: BLE001 - only a description; the failure is reported already
                return f"unknown ({_reason(error)})"
            if state is not None and state.running:
                serving.append(f"{role.live_name} ({state.image_ref})")
        return ", ".join(serving) or "nothing (no live containers)"


def _reason(error: BaseException) -> str:
    if isinstance(error, PlatformError):
        return url_credentials(str(error))
    if isinstance(error, (Interrupted, KeyboardInterrupt)):
        return "interrupted"
    return f"internal error: {type(error).__name__}: {error}"


def _raise_interrupted(signum, frame):
    raise Interrupted()
