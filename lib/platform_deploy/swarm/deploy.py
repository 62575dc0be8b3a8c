"""The deploy on a swarm: the pipeline's steps and guarantees, with services in place of containers.

- pull: on this manager, then pinned by digest, so every node runs the same bytes;
- start: each role's candidate is a service of its own on the project's overlay, under a
  name nothing routes to;
- migrations: each command a job task of the candidate's spec (services.CandidateJobs);
- health: every candidate task running, which with a HEALTHCHECK Swarm says only once it passed;
- smoke tests: each candidate task's own address, from platform-nginx's task on the project network;
- switch: the live service rolls to the tested spec, start-first: every new task healthy before the
  swarm takes an old one out of the service's DNS name, 2 s later stops it (nginx asks DNS every
  second and retries a refused connection on the name's other addresses);
- rollback: the live service's previous spec re-posted (Swarm keeps it), the migrations reversed by
  jobs of the new image, the candidates removed. The journal says how far a deploy got, and
  swarm/recover.py finishes or undoes a killed one.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from ..deploy import database, pipeline, probes
from ..deploy.probes import CheckFailed
from ..envfiles import read_env
from ..errors import PlatformError
from ..naming import network_labels
from ..nginx import files, live
from ..state.records import Phase, done, retry_later
from . import preflight, recover, rollout, services

SWITCH_TIMEOUT_MARGIN = 30   # seconds beyond a role's health timeout for the swarm to roll its live service
NAME_TIMEOUT = 30   # seconds for a new service's name to reach the edge node's DNS


class SwarmDeployment(pipeline.Deployment):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.specs: dict[str, object] = {}      # role -> the tested ServiceSpec (under the candidate's name)
        self.previous: dict[str, object] = {}   # role -> the live ServiceState before the switch (None: first)
        self.candidate_tasks: dict[str, list] = {}   # role -> its candidate's running tasks, once healthy

    def _recover(self) -> None:
        recover.recover(self.engine, self.settings, self.project, self.plan.environment, self.report,
                        scrub=self.scrub)

    def _migration_engine(self):
        return services.CandidateJobs(self.engine, {spec.name: spec for spec in self.specs.values()})

    # -- steps -----------------------------------------------------------------------------------

    def _checks(self):
        return super()._checks() + [preflight.check(self.engine, self.settings, self.project,
                                                    self.plan.environment)]

    def _pull(self) -> str:
        detail = super()._pull()
        for role in self.plan.roles:
            image = self.engine.image(self.progress.image_ids[role.role])
            pinned = services.pinned(image, role.repository, self.plan.tag)
            self.progress.image_digests[role.role] = pinned
        return detail

    def _start(self) -> str:
        plan = self.plan
        self.engine.ensure_network(plan.network, network_labels(plan.project, plan.environment))
        env = {role.role: read_env(self.settings, self.project, plan.environment, self.project.container(role.role))
               for role in plan.roles}
        self.scrub = self.scrub.including(*env.values())
        merged = {key: value for role_env in env.values() for key, value in role_env.items()}
        database_note = database.ensure(self.engine, self.settings, self.project, plan.environment, merged)
        self.specs = {role.role: services.role_spec(plan, role, self.progress.image_digests[role.role],
                                                    env[role.role], role.new_name)
                      for role in plan.roles}
        self._journal(Phase.START)
        for spec in self.specs.values():
            self.engine.create_service(spec)
        return f"{', '.join(f'{spec.name} ({spec.replicas})' for spec in self.specs.values())}; {database_note}"

    def _migrate(self) -> str:
        self._journal(Phase.MIGRATE)
        done_, _ = self._run_migrations()
        return "; ".join(done_) or "none"

    def _health(self) -> str:
        def up(role):
            spec = self.specs[role.role]
            return rollout.wait_up(self.engine, spec.name, spec.labels, spec.replicas, role.health_timeout,
                                   self.report.awaiting)
        with ThreadPoolExecutor(max_workers=len(self.plan.roles)) as pool:
            tasks = list(pool.map(up, self.plan.roles))
        self.candidate_tasks = dict(zip((role.role for role in self.plan.roles), tasks))
        return "; ".join(f"{role.role}: {len(found)} running" for role, found in zip(self.plan.roles, tasks))

    def _smoke(self) -> str:
        def each_task(role):
            passed = []
            for task in self.candidate_tasks[role.role]:
                address = task.networks.get(self.plan.network)
                if not address:
                    raise CheckFailed(f"{role.new_name}: a task has no address on {self.plan.network}")
                try:
                    passed = probes.smoke_test(self.engine, self.settings, replace(role, new_name=address))
                except CheckFailed as error:
                    raise CheckFailed(f"{role.new_name} (task on {task.node_id[:12]}): {error}") from None
            return passed
        with ThreadPoolExecutor(max_workers=len(self.plan.roles)) as pool:
            passed = list(pool.map(each_task, self.plan.roles))
        return "; ".join(f"{role.role}: {', '.join(paths)} on {len(self.candidate_tasks[role.role])} tasks"
                         for role, paths in zip(self.plan.roles, passed))

    def _switch(self) -> str:
        plan = self.plan
        if files.plan(self.settings, self.registry, only=plan.project).write:
            live.generate_and_reload(self.engine, self.settings, self.registry, only=plan.project)
        self.previous = {role.role: self.engine.service(role.live_name) for role in plan.roles}
        self.old_names = [state.name for state in self.previous.values() if state is not None]
        self._journal(Phase.SWITCHING)
        for role in plan.roles:
            live_spec = replace(self.specs[role.role], name=role.live_name)
            if self.previous[role.role] is None:
                self.engine.create_service(live_spec)
            else:
                self.engine.update_service(live_spec)
        with ThreadPoolExecutor(max_workers=len(plan.roles)) as pool:
            list(pool.map(self._rolled, plan.roles))
        for role in plan.roles:
            if self.previous[role.role] is None:
                self._await_name(role.live_name)
        domain, tls = self._check_target()
        response = probes.through_nginx(self.engine, self.settings, domain, tls, within=2.0)
        if not probes.served(response):
            raise PlatformError(f"request through {self.settings.nginx_container} for {domain} got "
                                f"{response.status or 'no response'} after the switch; switched back")
        self._journal(Phase.SWITCHED)
        self._remove_candidates()
        replaced = ", ".join(self.old_names) or "nothing (first deploy)"
        return f"{domain} -> {response.status}; rolled {replaced}"

    def _rolled(self, role) -> None:
        spec = self.specs[role.role]
        rollout.wait_up(self.engine, role.live_name, spec.labels, spec.replicas,
                        role.health_timeout + SWITCH_TIMEOUT_MARGIN, self.report.awaiting)

    def _await_name(self, name: str) -> None:
        """A service created just now: its name reaches the edge node's DNS by gossip, which may come seconds
        after its tasks run; until then nginx's lookups go to the upstream DNS servers and wait on them."""
        deadline = time.monotonic() + NAME_TIMEOUT
        nginx = self.settings.nginx_container
        while self.engine.exec_run(nginx, ["getent", "hosts", name]).exit_code != 0:
            if time.monotonic() > deadline:
                raise PlatformError(f"{name} does not resolve in {nginx} {NAME_TIMEOUT}s after its tasks started "
                                    "(is the node's gossip port 7946 open?); switched back")
            time.sleep(0.5)

    def _remove_candidates(self) -> None:
        for role in self.plan.roles:
            self.engine.remove_service(role.new_name)

    # -- after the report, and failure -----------------------------------------------------------

    def _lift_guard(self) -> None:
        """No guard on a swarm: Swarm's DNS and nginx's retries carry the switch."""

    def _retire_replaced(self) -> None:
        """The swarm stops the replaced tasks itself, after their grace period."""

    def _settle(self, moved: bool) -> bool:
        act = self.progress.actions.append
        try:
            if moved:
                self._remove_candidates()
                act(done(f"removed {', '.join(role.new_name for role in self.plan.roles)}"))
                return True
            return recover.undo(self.engine, self.plan.roles, self.plan.deploy_id, self.phase,
                                self._migration_engine(), self.progress.unreversed, act,
                                reversed_one=self._forget_reversed)
        except Exception as error:  # noqa: BLE001 - the engine gone, say: recover retries later
            act(retry_later(f"stopped: {pipeline.failure_reason(error)}"))
            return False

    def _serving(self) -> str:
        serving = []
        for role in self.plan.roles:
            try:
                state = self.engine.service(role.live_name)
            except PlatformError as error:
                return f"unknown ({pipeline.failure_reason(error)})"
            if state is not None:
                serving.append(f"{role.live_name} ({state.image.split('@')[0]}, {state.replicas} tasks)")
        return ", ".join(serving) or "nothing (no live services)"
