"""A swarm manager's Docker API (PLATFORM_ENGINE=swarm): services, jobs and overlay networks.

Everything a single host does to one container, a swarm does to a service's tasks. The
platform's own services (platform-nginx, postgres-platform) run a task on this manager
node, and the commands the product runs in them (``nginx -t``, ``pg_dump``, a probe's
``curl``) go to that local task: a container name that is not a container here is taken
for a service, and its running task on this node stands in for it.

Every service answers on its DNS name with its tasks' own addresses (``dnsrr``): nginx
resolves the name per request and never goes through a virtual IP, which kept sending
to stopping tasks (moby/moby#38841). Swarm adds a task to that name only once its
HEALTHCHECK passed, and takes it out 2 s before the task is stopped.
"""

import time
from collections.abc import Mapping

from ..textutil import one_line
from . import ContainerState, ExecResult, NodeState, NotFound, Refused, ServiceSpec, ServiceState, TaskState
from .docker import DockerEngine, _task, label_filters

NANOSECONDS = 1_000_000_000
# After the last new task is up, how long Swarm watches it before it calls the update done.
UPDATE_MONITOR_SECONDS = 1
JOB_ENDED = frozenset({"complete", "failed", "rejected", "shutdown", "orphaned", "remove"})
POLL_SECONDS = 0.25


class SwarmEngine(DockerEngine):
    """The manager node's engine (DOCKER_HOST or the local socket)."""

    def __init__(self):
        super().__init__()
        self._node_id = ""

    # -- the local task of a platform service stands in for its container -----------------------

    def _local(self, name: str) -> str:
        """``name`` itself when it is a container here, else the container of its service's task here."""
        if super().inspect(name) is not None:
            return name
        return next(iter(self._running_tasks(name, self.local_node_id())), name)

    def _running_tasks(self, service: str, node: str | None = None) -> list[str]:
        """The containers of ``service``'s tasks meant to run and running (on ``node`` only, when given): not
        an old task's, which a roll stops with a grace period and may still be running."""
        filters = {"service": service, "desired-state": "running", **({"node": node} if node else {})}
        try:
            with self._translated(f"cannot look for the tasks of {service}"):
                tasks = self._api.tasks(filters=filters)
        except NotFound:   # no such service
            return []
        statuses = [task.get("Status") or {} for task in tasks]
        containers = [(status.get("ContainerStatus") or {}).get("ContainerID") for status in statuses
                      if status.get("State") == "running"]
        return [container for container in containers if container]

    def inspect(self, name: str):
        state = super().inspect(name)
        if state is not None:
            return state
        here = self._running_tasks(name, self.local_node_id())
        if here:
            return super().inspect(here[0])
        return self._service_stand_in(name)

    def _service_stand_in(self, name: str) -> ContainerState | None:
        """A service whose tasks all run on other nodes, seen from here as one container: its image (by
        digest; pulled here if this node lacks it, as a backup tags it here) and whether a task runs. It has
        no health and takes no exec: the nodes' own containers are out of this API's reach."""
        service = self.service(name)
        if service is None:
            return None
        repository, digest = _by_digest(service.image)
        image = self.image(f"{repository}@{digest}" if digest else service.image)
        if image is None and digest:
            self.pull(repository, digest)
            image = self.image(f"{repository}@{digest}")
        status = "running" if self._running_tasks(name) else "exited"
        return ContainerState(name=name, id=service.id, status=status, health=None, exit_code=0,
                              image_id=image.id if image else "", image_ref=service.image, labels=service.labels)

    def exec_run(self, name: str, argv: list[str], environment=None, output_expected: bool = False) -> ExecResult:
        return super().exec_run(self._local(name), argv, environment, output_expected)

    def exec_to(self, name: str, argv: list[str], write, environment=None) -> ExecResult:
        return super().exec_to(self._local(name), argv, write, environment)

    def exec_from(self, name: str, argv: list[str], chunks, environment=None) -> ExecResult:
        return super().exec_from(self._local(name), argv, chunks, environment)

    def file_exists(self, name: str, path: str) -> bool:
        return super().file_exists(self._local(name), path)

    def logs_tail(self, name: str, lines: int = 5) -> str:
        return super().logs_tail(self._local(name), lines)

    def local_node_id(self) -> str:
        """This engine's node in the swarm (read once: a node keeps its id)."""
        if not self._node_id:
            with self._translated("cannot read the Docker engine's info"):
                self._node_id = (self._api.info().get("Swarm") or {}).get("NodeID", "")
        return self._node_id

    # -- services --------------------------------------------------------------------------------

    def service(self, name: str) -> ServiceState | None:
        try:
            with self._translated(f"cannot inspect service {name}"):
                return _service(self._api.inspect_service(name))
        except NotFound:
            return None

    def services(self, labels: Mapping[str, str]) -> list[ServiceState]:
        filters = label_filters(labels)
        with self._translated("cannot list the swarm's services"):
            return [_service(attrs) for attrs in self._api.services(filters=filters)]

    def service_tasks(self, labels: Mapping[str, str]) -> list[TaskState]:
        tasks = super().service_tasks(labels)
        return sorted(tasks, key=lambda task: (task.service, task.slot or 0, task.id))

    def create_service(self, spec: ServiceSpec) -> None:
        with self._translated(f"cannot create service {spec.name}"):
            self._api.create_service(self._task_template(spec), name=spec.name, labels=dict(spec.labels),
                                     mode=_mode(spec), update_config=_update_config(spec),
                                     endpoint_spec=_endpoint(spec))

    def update_service(self, spec: ServiceSpec) -> None:
        current = self._existing(spec.name)
        with self._translated(f"cannot update service {spec.name}"):
            self._api.update_service(current.id, current.version, task_template=self._task_template(spec),
                                     name=spec.name, labels=dict(spec.labels), mode=_mode(spec),
                                     update_config=_update_config(spec), endpoint_spec=_endpoint(spec))

    def repost_service(self, name: str, spec: Mapping) -> None:
        current = self._existing(name)
        with self._translated(f"cannot put back service {name}"):
            self._api.update_service(current.id, current.version, task_template=dict(spec["TaskTemplate"]),
                                     name=spec["Name"], labels=spec.get("Labels") or {}, mode=spec.get("Mode"),
                                     update_config=spec.get("UpdateConfig"),
                                     rollback_config=spec.get("RollbackConfig"),
                                     endpoint_spec=spec.get("EndpointSpec"))

    def _existing(self, name: str) -> ServiceState:
        current = self.service(name)
        if current is None:
            raise NotFound(f"service {name} does not exist")
        return current

    def remove_service(self, name: str) -> None:
        try:
            with self._translated(f"cannot remove service {name}"):
                self._api.remove_service(name)
        except NotFound:
            pass

    def run_job(self, spec: ServiceSpec, timeout: float) -> ExecResult:
        # A service whose tasks are never restarted, not Swarm's job modes: Docker 20.10 never deletes a
        # removed job's tasks, so their exited containers stay on the nodes for good (moby/moby#42789, fixed
        # in 23.0.2); a removed service's tasks are deleted and each node removes their containers.
        with self._translated(f"cannot start job {spec.name}"):
            self._api.create_service(self._task_template(spec, job=True), name=spec.name, labels=dict(spec.labels),
                                     mode=_mode(spec), endpoint_spec=_endpoint(spec))
        try:
            tasks = self._job_ends(spec.name, timeout)
            with self._translated(f"cannot read the output of job {spec.name}"):
                chunks = self._api.service_logs(spec.name, stdout=True, stderr=True, follow=False)
                output = b"".join(chunks).decode("utf-8", "replace")
        finally:
            self.remove_service(spec.name)
        failed = next((task for task in tasks if task.state != "complete" or task.exit_code), None)
        if failed is None:
            return ExecResult(0, output)
        if failed.exit_code is None:
            return ExecResult(-1, f"{failed.state}: {failed.error}\n{output}")
        return ExecResult(failed.exit_code, output)

    def _job_ends(self, name: str, timeout: float) -> list[TaskState]:
        """The first ended task on each node the job runs on (a global job runs on several). Only the first
        counts, should Swarm start another."""
        deadline = time.monotonic() + timeout
        while True:
            with self._translated(f"cannot follow job {name}"):
                attrs = self._api.tasks(filters={"service": name})
            tasks = [_task(a, {"Spec": {"Name": name}}) for a in attrs]
            ended = {}
            for task in tasks:
                if task.state in JOB_ENDED:
                    ended.setdefault(task.node_id, task)
            if tasks and set(ended) >= {task.node_id for task in tasks}:
                return list(ended.values())
            lost = self._lost_nodes({task.node_id for task in tasks if task.node_id})
            if lost:   # its engine died: Swarm does not run a job again elsewhere, and its outcome is unknown
                raise Refused(f"job {name}: its node {lost[0].hostname} went {lost[0].state} while it ran")
            if time.monotonic() > deadline:
                raise Refused(f"job {name} did not finish within {timeout:g}s")
            time.sleep(POLL_SECONDS)

    def _lost_nodes(self, node_ids: set[str]) -> list[NodeState]:
        """Those of the nodes that are no longer ready."""
        return [node for node in self.nodes() if node.id in node_ids and node.state != "ready"]

    # -- configs ---------------------------------------------------------------------------------

    def create_config(self, name: str, data: bytes, labels: Mapping[str, str]) -> None:
        if self._config_id(name) is not None:
            return
        with self._translated(f"cannot create config {name}"):
            self._api.create_config(name, data, labels=dict(labels))

    def remove_config(self, name: str) -> None:
        try:
            with self._translated(f"cannot remove config {name}"):
                self._api.remove_config(name)
        except NotFound:
            pass

    def _config_id(self, name: str) -> str | None:
        with self._translated("cannot list the swarm's configs"):
            found = [config for config in self._api.configs(filters={"name": name})
                     if config["Spec"]["Name"] == name]
        return found[0]["ID"] if found else None

    def _task_template(self, spec: ServiceSpec, job: bool = False) -> dict:
        import docker.types as types

        configs = []
        for name, target in spec.configs:
            config_id = self._config_id(name)
            if config_id is None:
                raise NotFound(f"config {name} does not exist")
            configs.append(types.ConfigReference(config_id, name, filename=target))
        return _task_template(spec, configs, job)

    # -- networks --------------------------------------------------------------------------------

    def ensure_overlay(self, name: str, labels: Mapping[str, str]) -> bool:
        if self._network_named(name) is not None:
            return False
        with self._translated(f"cannot create overlay network {name}"):
            self._api.create_network(name, driver="overlay", attachable=True, labels=dict(labels),
                                     check_duplicate=True)
        return True

    def network_id(self, name: str) -> str | None:
        network = self._network_named(name)
        return network["Id"] if network is not None else None

    def ensure_network(self, name: str, labels: Mapping[str, str], subnet_pool: str | None = None) -> bool:
        """On a swarm every project network is an overlay (the swarm's own address pool)."""
        return self.ensure_overlay(name, labels)


def _by_digest(reference: str) -> tuple[str, str]:
    """``repo[:tag]@sha256:...`` -> (repo, sha256:...); a reference without a digest -> (it, "")."""
    named, _, digest = reference.partition("@")
    last = named.rsplit("/", 1)[-1]
    return (named.rsplit(":", 1)[0] if ":" in last else named), digest


def _service(attrs: dict) -> ServiceState:
    spec = attrs.get("Spec") or {}
    container = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    replicated = (spec.get("Mode") or {}).get("Replicated")
    update = attrs.get("UpdateStatus") or {}
    return ServiceState(id=attrs["ID"], name=spec.get("Name", ""), version=(attrs.get("Version") or {}).get("Index", 0),
                        labels=dict(spec.get("Labels") or {}), image=container.get("Image", ""),
                        replicas=replicated.get("Replicas") if replicated is not None else None,
                        update_state=update.get("State", ""), update_message=one_line(update.get("Message", "")),
                        spec=spec, previous_spec=attrs.get("PreviousSpec"))


def _task_template(spec: ServiceSpec, configs: list, job: bool = False) -> dict:
    import docker.types as types

    mounts = [types.Mount(target, source, type="volume") for source, target in spec.volumes]
    mounts += [types.Mount(target, source, type="bind", read_only=True) for source, target in spec.binds]
    container = types.ContainerSpec(spec.image, command=list(spec.command) or None, env=dict(spec.environment),
                                    labels=dict(spec.labels), mounts=mounts, configs=configs or None,
                                    stop_grace_period=spec.stop_grace_seconds * NANOSECONDS)
    # A job runs once; a service's task that fails is replaced (a failing candidate is seen failing).
    restart = types.RestartPolicy(condition="none" if job else "any", delay=NANOSECONDS)
    return types.TaskTemplate(container, restart_policy=restart,
                              placement=types.Placement(constraints=list(spec.constraints)),
                              networks=[{"Target": network} for network in spec.networks])


def _mode(spec: ServiceSpec):
    import docker.types as types

    return types.ServiceMode("global") if spec.global_mode else types.ServiceMode("replicated", spec.replicas)


def _update_config(spec: ServiceSpec):
    """All tasks at once, each new one healthy before an old one stops; a port published on the node itself
    cannot be bound twice there, so such a service stops its old task first."""
    import docker.types as types

    order = "stop-first" if spec.host_ports else "start-first"
    return types.UpdateConfig(parallelism=0, delay=0, failure_action="pause", order=order,
                              monitor=UPDATE_MONITOR_SECONDS * NANOSECONDS)


def _endpoint(spec: ServiceSpec):
    import docker.types as types

    ports = {published: (target, "tcp", "host") for published, target in spec.host_ports}
    return types.EndpointSpec(mode="dnsrr", ports=ports or None)
