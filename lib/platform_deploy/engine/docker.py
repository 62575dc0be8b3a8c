"""The Docker engine of one host: the only module that imports the Docker SDK or runs docker-compose.

Every call goes through ``_translated``, which turns the SDK's errors, and the
transport errors it does not wrap (requests' connection, timeout and
broken-stream errors), into the engine errors of ``platform_deploy.engine``.
The SDK is imported on first use: commands that never touch Docker stay fast.
"""

import ipaddress
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from ..textutil import one_line
from . import (Conflict, ContainerSpec, ContainerState, EngineUnavailable, ExecResult, ImageInfo, NodeState,
               NotFound, Refused, TaskState)

EXEC_ATTEMPTS = 3                # runs of a command whose output came back empty (see exec_run)
HELPER_MOUNT = "/platform-volume"   # where a helper container sees the volume; archives hold platform-volume/...
EXEC_OUTPUT_KEPT = 64 * 1024     # bytes of a streamed exec's messages kept for the error message
ARCHIVE_CHUNK = 1024 * 1024      # largest piece of a volume archive held at once
CLIENT_TIMEOUT = 120
REMOVAL_WAIT = 30              # seconds an engine-side removal may take before we call it stuck
COMPOSE_TIMEOUT = 600
REASON_LENGTH = 200


class DockerEngine:
    """The local Docker engine (DOCKER_HOST or the local socket), connected on first use."""

    def __init__(self):
        self._client = None
        self._lock = threading.Lock()

    # -- connection and errors ---------------------------------------------------------------

    @property
    def _docker(self):
        with self._lock:
            if self._client is None:
                import docker
                import requests.exceptions

                try:
                    client = docker.from_env(timeout=CLIENT_TIMEOUT)
                    client.ping()
                except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
                    raise EngineUnavailable(f"cannot reach the Docker engine ({_reason(error)}); "
                                            "start it (bin/setup does) or set DOCKER_HOST") from None
                self._client = client
            return self._client

    @property
    def _api(self):
        return self._docker.api

    @contextmanager
    def _translated(self, what: str, missing: str | None = None):
        """Raise the SDK's and the transport's errors as engine errors whose message starts with ``what``."""
        import docker.errors
        import requests.exceptions

        try:
            yield
        except docker.errors.NotFound as error:
            raise NotFound(missing or f"{what}: {_reason(error)}", str(error)) from None
        except docker.errors.APIError as error:
            kind = Conflict if error.status_code == 409 else Refused
            raise kind(f"{what}: {_reason(error)}", str(error)) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError) as error:
            raise EngineUnavailable(f"lost the connection to the Docker engine ({_reason(error)}); "
                                    "check that it runs (bin/start-docker starts it)") from None
        except docker.errors.DockerException as error:
            raise Refused(f"{what}: {_reason(error)}") from None

    def _stream(self, chunks, what: str):
        """``chunks`` with errors raised while reading them translated (not those of the consumer)."""
        iterator = iter(chunks)
        while True:
            with self._translated(what):
                chunk = next(iterator, None)
            if chunk is None:
                return
            yield chunk

    def data_root(self) -> str:
        with self._translated("cannot read the Docker engine's info"):
            return self._api.info().get("DockerRootDir", "/var/lib/docker")

    # -- swarm (a manager's API) ---------------------------------------------------------------

    def nodes(self) -> list[NodeState]:
        try:
            with self._translated("cannot list the swarm's nodes"):
                return [_node(attrs) for attrs in self._api.nodes()]
        except Refused as error:
            if "not a swarm manager" not in error.detail:
                raise
            raise Refused("this Docker engine is not a swarm manager: point DOCKER_HOST at a manager node, or make "
                          "this one (docker swarm init)", error.detail) from None

    def service_tasks(self, labels: Mapping[str, str]) -> list[TaskState]:
        filters = label_filters(labels)
        with self._translated("cannot list the swarm's services"):
            services = {attrs["ID"]: attrs for attrs in self._api.services(filters=filters)}
            tasks = self._api.tasks(filters={"service": list(services)}) if services else []
        return [_task(attrs, services[attrs["ServiceID"]]) for attrs in tasks if attrs.get("ServiceID") in services]

    # -- containers --------------------------------------------------------------------------

    def inspect(self, name: str) -> ContainerState | None:
        try:
            with self._translated(f"cannot inspect container {name}"):
                return _state(self._api.inspect_container(name))
        except NotFound:
            return None

    def find(self, labels: Mapping[str, str]) -> list[ContainerState]:
        filters = label_filters(labels)
        with self._translated("cannot list containers"):
            found = self._api.containers(all=True, filters=filters)
        states = (self.inspect(summary["Id"]) for summary in found)
        return [state for state in states if state is not None]   # None: removed since listed

    def run(self, spec: ContainerSpec) -> ContainerState:
        if self.image(spec.image) is None:
            raise NotFound(f"image {spec.image} is not on this machine; pull it first")
        mounts = {volume: {"bind": path, "mode": "rw"} for volume, path in spec.volumes}
        with self._translated(f"cannot start {spec.name}"):
            container = self._docker.containers.create(
                spec.image, name=spec.name, environment=dict(spec.environment), labels=dict(spec.labels),
                network=spec.network, volumes=mounts, restart_policy={"Name": "unless-stopped"},
                stop_signal="SIGTERM", cpu_shares=spec.cpu_shares, detach=True)
            container.start()
            return _state(self._api.inspect_container(container.id))

    def start(self, name: str) -> None:
        self._change(f"start {name}", lambda: self._api.start(name))

    def stop(self, name: str, timeout: int = 10) -> None:
        state = self.inspect(name)
        if state is not None and state.status in ("running", "restarting", "paused"):
            self._change(f"stop {name}", lambda: self._api.stop(name, timeout=timeout))

    def remove(self, name: str) -> None:
        """Remove a container; one the engine is already removing (auto-remove) is waited for."""
        try:
            self._change(f"remove {name}", lambda: self._api.remove_container(name, force=True))
        except Conflict as error:
            if "already in progress" not in error.detail:
                raise
            self._await_removal(name, error)

    def _await_removal(self, name: str, error: Conflict) -> None:
        deadline = time.monotonic() + REMOVAL_WAIT
        while self.inspect(name) is not None:
            if time.monotonic() > deadline:
                raise error
            time.sleep(0.1)

    def set_cpu_shares(self, name: str, shares: int) -> None:
        self._change(f"change the CPU weight of {name}", lambda: self._api.update_container(name, cpu_shares=shares))

    def rename(self, name: str, new_name: str) -> None:
        with self._translated(f"cannot rename {name} to {new_name}",
                              missing=f"cannot rename {name} to {new_name}: the container is gone"):
            self._api.rename(name, new_name)

    def _change(self, what: str, call) -> None:
        """One container change; the container being gone already is not an error."""
        try:
            with self._translated(f"cannot {what}"):
                call()
        except NotFound:
            pass

    def logs(self, name: str, follow: bool = False, since: int | None = None,
             tail: int | None = None) -> Iterator[bytes]:
        what = f"cannot read the logs of {name}"
        with self._translated(what, missing=f"container {name!r} does not exist"):
            chunks = self._api.logs(name, stream=True, follow=follow, since=since,
                                    tail="all" if tail is None else tail)
        return self._stream(chunks, what)

    def exec_attached(self, name: str, argv: list[str], tty: bool) -> int:
        """The docker CLI (same engine: DOCKER_HOST and its context as usual): it relays a terminal, its
        size and signals, which the API's attach leaves to the client."""
        docker_cli = shutil.which("docker")
        if docker_cli is None:
            raise Refused("cannot run a command in a container: the docker command is not installed")
        return subprocess.run([docker_cli, "exec", "--interactive", *(["--tty"] if tty else []), name, *argv],
                              check=False).returncode

    def logs_tail(self, name: str, lines: int = 5) -> str:
        try:
            with self._translated(f"cannot read the logs of {name}"):
                output = self._api.logs(name, tail=lines)
        except (NotFound, Refused, Conflict):
            return ""
        return output.decode("utf-8", "replace").strip()

    def run_beside(self, name: str, image: str, argv: list[str], labels: Mapping[str, str],
                   capabilities: tuple[str, ...] = (), timeout: float = 60) -> ExecResult:
        api = self._api
        created = self._helper_beside(name, image, argv, labels, capabilities, auto_remove=False)
        try:
            with self._translated(f"helper beside {name}"):
                api.start(created["Id"])
                code = api.wait(created["Id"], timeout=timeout).get("StatusCode", -1)
                output = api.logs(created["Id"]).decode("utf-8", "replace")
        finally:
            self.remove(created["Id"])
        return ExecResult(code, output)

    def start_beside(self, name: str, image: str, argv: list[str], labels: Mapping[str, str],
                     capabilities: tuple[str, ...] = ()) -> str:
        created = self._helper_beside(name, image, argv, labels, capabilities, auto_remove=True)
        with self._translated(f"cannot start a helper beside {name}"):
            self._api.start(created["Id"])
        return created["Id"]

    def _helper_beside(self, name, image, argv, labels, capabilities, auto_remove: bool) -> dict:
        api = self._api
        with self._translated(f"cannot run a helper beside {name}"):
            return api.create_container(   # not the image's HEALTHCHECK: a helper serves nothing
                image, command=argv, entrypoint=[], labels=dict(labels), healthcheck={"test": ["NONE"]},
                host_config=api.create_host_config(network_mode=f"container:{name}", cap_add=list(capabilities),
                                                   auto_remove=auto_remove))

    def file_exists(self, name: str, path: str) -> bool:
        try:
            with self._translated(f"cannot look for {path} in {name}"):
                stream, _ = self._api.get_archive(name, path)
                stream.close()
        except NotFound:
            return False
        return True

    # -- exec ----------------------------------------------------------------------------------

    def exec_run(self, name: str, argv: list[str], environment=None, output_expected: bool = False) -> ExecResult:
        """See Engine.exec_run. Docker 20.10 loses the whole output of a short exec now and then when
        the host is busy (exit code 0, no output: 2 in 300 execs measured here under CPU load), so
        with ``output_expected`` an empty answer is asked again rather than taken as the command's."""
        for _ in range(EXEC_ATTEMPTS if output_expected else 1):
            with self._exec_errors(name, argv):
                exec_id = self._api.exec_create(name, argv, environment=_env(environment))["Id"]
                output = self._api.exec_start(exec_id, demux=False) or b""
            text = output.decode("utf-8", "replace")
            code = self._exit_code(exec_id)
            if text or code != 0:
                break
        return ExecResult(code, text)

    @contextmanager
    def _exec_errors(self, name: str, argv: list[str]):
        with self._translated(f"{name}: cannot run {argv[0]}", missing=f"container {name!r} does not exist"):
            yield

    def exec_to(self, name: str, argv: list[str], write, environment=None) -> ExecResult:
        with self._exec_errors(name, argv):
            exec_id = self._api.exec_create(name, argv, stdout=True, stderr=True,
                                            environment=_env(environment))["Id"]
            stream = self._api.exec_start(exec_id, stream=True, demux=True)
        messages = bytearray()
        try:
            for out, err in self._stream(stream, f"{name}: {argv[0]}"):
                if out:
                    write(out)
                if err and len(messages) < EXEC_OUTPUT_KEPT:
                    messages += err
        finally:
            stream.close()
        return ExecResult(self._exit_code(exec_id), messages.decode("utf-8", "replace"))

    def exec_from(self, name: str, argv: list[str], chunks, environment=None) -> ExecResult:
        with self._exec_errors(name, argv):
            exec_id = self._api.exec_create(name, argv, stdin=True, stdout=True, stderr=True,
                                            environment=_env(environment))["Id"]
            connection = self._api.exec_start(exec_id, socket=True)
        raw = getattr(connection, "_sock", connection)   # the SDK hands out a socket wrapper
        received = bytearray()

        def read_output():  # read while writing: a process blocked on a full output pipe stops reading stdin
            while data := raw.recv(65536):
                if len(received) < EXEC_OUTPUT_KEPT:
                    received.extend(data)

        reader = threading.Thread(target=read_output, daemon=True)
        reader.start()
        try:
            for chunk in chunks:
                raw.sendall(chunk)
            raw.shutdown(socket.SHUT_WR)
            reader.join()
        except (BrokenPipeError, ConnectionResetError):
            reader.join(timeout=10)   # the process ended early; its output says why
        finally:
            connection.close()
        return ExecResult(self._exit_code(exec_id), _demux(bytes(received)))

    def _exit_code(self, exec_id: str, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while True:
            with self._translated("cannot read an exec's exit code"):
                info = self._api.exec_inspect(exec_id)
            if not info.get("Running") or time.monotonic() > deadline:
                code = info.get("ExitCode")
                return -1 if code is None else code
            time.sleep(0.05)

    # -- images --------------------------------------------------------------------------------

    def pull(self, repository: str, tag: str) -> str:
        with self._translated(f"cannot pull {repository}:{tag}"):
            return self._docker.images.pull(repository, tag=tag).id

    def image(self, reference: str) -> ImageInfo | None:
        try:
            with self._translated(f"cannot inspect image {reference}"):
                attrs = self._api.inspect_image(reference)
        except NotFound:
            return None
        digests, config = tuple(attrs.get("RepoDigests") or ()), attrs.get("Config") or {}
        return ImageInfo(attrs["Id"], digests[0] if digests else None, config.get("Labels") or {},
                         tags=tuple(attrs.get("RepoTags") or ()), digests=digests,
                         health_command=_health_command((config.get("Healthcheck") or {}).get("Test") or []))

    def tag(self, image_id: str, repository: str, tag: str) -> None:
        with self._translated(f"cannot tag {repository}:{tag}"):
            self._api.tag(image_id, repository, tag=tag)

    def untag(self, reference: str) -> None:
        try:
            with self._translated(f"cannot untag {reference}"):
                self._api.remove_image(reference, noprune=False)
        except (NotFound, Conflict):
            pass   # gone already, or still used by a container: it stays until that container goes

    def prune_dangling(self) -> int:
        with self._translated("cannot prune dangling images"):
            return self._api.prune_images(filters={"dangling": True}).get("SpaceReclaimed") or 0

    # -- networks ------------------------------------------------------------------------------

    def ensure_network(self, name: str, labels: Mapping[str, str], subnet_pool: str | None = None) -> bool:
        """See Engine.ensure_network. A pool (e.g. 10.213.0.0/16) is there because Docker's default
        address pools hold only ~30 networks."""
        if self._network_named(name) is not None:
            return False
        for subnet in self._free_subnets(subnet_pool) if subnet_pool else [None]:
            try:
                with self._translated(f"cannot create network {name}"):
                    self._api.create_network(name, driver="bridge", labels=dict(labels), check_duplicate=True,
                                             ipam=_ipam(subnet))
                return True
            except (Conflict, Refused) as error:
                if self._network_named(name) is not None:   # created concurrently by someone else
                    return False
                if subnet is None or "overlap" not in error.detail:
                    raise
                # taken since we looked: try the next one
        raise Refused(f"cannot create network {name}: no free /24 left in {subnet_pool}; "
                      "set PLATFORM_SUBNET_POOL to a larger range")

    def _free_subnets(self, pool: str):
        with self._translated("cannot list networks"):
            existing = self._api.networks()
        used = [ipaddress.ip_network(config["Subnet"])
                for network in existing
                for config in ((network.get("IPAM") or {}).get("Config") or [])
                if config.get("Subnet") and ":" not in config["Subnet"]]
        network = ipaddress.ip_network(pool)
        candidates = network.subnets(new_prefix=24) if network.prefixlen <= 24 else [network]
        return [subnet for subnet in candidates if not any(subnet.overlaps(other) for other in used)]

    def _network_named(self, name: str):
        # The API's name filter matches substrings; only an exact name counts.
        with self._translated("cannot list networks"):
            return next((n for n in self._api.networks(names=[name]) if n["Name"] == name), None)

    def network_subnets(self, name: str) -> list[str]:
        found = self._network_named(name)
        configs = ((found or {}).get("IPAM") or {}).get("Config") or []
        return [config["Subnet"] for config in configs if config.get("Subnet") and ":" not in config["Subnet"]]

    def connect(self, container: str, network: str, aliases: list[str] | None = None) -> bool:
        state = self.inspect(container)
        if state is None:
            raise NotFound(f"container {container!r} does not exist")
        if not state.running:
            raise Conflict(f"container {container!r} is {state.status}; cannot connect it to {network}")
        if network in state.networks:
            return False
        if self._network_named(network) is None:
            raise NotFound(f"network {network!r} does not exist")
        try:
            with self._translated(f"cannot connect {container} to {network}"):
                self._api.connect_container_to_network(container, network, aliases=aliases or None)
        except (Conflict, Refused) as error:
            if "already exists" in error.detail:
                return False
            raise
        return True

    def disconnect(self, container: str, network: str) -> None:
        try:
            with self._translated(f"cannot disconnect {container} from {network}"):
                self._api.disconnect_container_from_network(container, network, force=True)
        except NotFound:
            pass
        except (Conflict, Refused) as error:
            if "is not connected" not in error.detail:
                raise

    # -- volumes -------------------------------------------------------------------------------

    def volume_exists(self, name: str) -> bool:
        try:
            with self._translated(f"cannot inspect volume {name}"):
                self._api.inspect_volume(name)
        except NotFound:
            return False
        return True

    def _helper(self, volume: str, image: str, labels: Mapping[str, str], command: list[str]) -> str:
        """Create (not start) a container from a local ``image`` with ``volume`` at HELPER_MOUNT; no network."""
        api = self._api
        with self._translated(f"cannot create a helper container for volume {volume}"):
            created = api.create_container(
                image, command=command, entrypoint=[], labels=dict(labels), volumes=[HELPER_MOUNT],
                host_config=api.create_host_config(binds={volume: {"bind": HELPER_MOUNT, "mode": "rw"}},
                                                   network_mode="none"))
        return created["Id"]

    def archive_volume(self, volume: str, image: str, labels: Mapping[str, str], write) -> None:
        """See Engine.archive_volume: read through a created, never started helper container."""
        helper = self._helper(volume, image, labels, ["true"])
        try:
            with self._translated(f"cannot read volume {volume}"):
                stream, _ = self._api.get_archive(helper, HELPER_MOUNT, chunk_size=ARCHIVE_CHUNK)
            try:
                for chunk in self._stream(stream, f"cannot read volume {volume}"):
                    write(chunk)
            finally:
                stream.close()
        finally:
            self.remove(helper)

    def replace_volume_contents(self, volume: str, image: str, labels: Mapping[str, str], chunks) -> None:
        """See Engine.replace_volume_contents. ``image`` must have ``sh`` and ``find``; ownership,
        modes and links in the archive are kept."""
        api = self._api
        helper = self._helper(volume, image, labels, ["sh", "-c", f"find {HELPER_MOUNT} -mindepth 1 -delete"])
        try:
            with self._translated(f"cannot empty volume {volume}"):
                api.start(helper)
                code = api.wait(helper, timeout=600).get("StatusCode")
            if code != 0:
                with self._translated(f"cannot empty volume {volume}"):
                    output = api.logs(helper).decode("utf-8", "replace")
                raise Refused(f"cannot empty volume {volume}: {one_line(output, 300)}")
            with self._translated(f"cannot write volume {volume}"):
                if not api.put_archive(helper, "/", chunks):
                    raise Refused(f"Docker refused the archive for volume {volume}")
        finally:
            self.remove(helper)

    # -- the platform services of this host ------------------------------------------------------

    def compose(self, compose_file: Path, project: str, arguments: list[str], environment) -> str:
        executable = shutil.which("docker-compose")
        if executable is None:
            raise Refused("docker-compose not found; install it (apt-get install docker-compose)")
        command = [executable, "-f", str(compose_file), "-p", project, *arguments]
        try:
            result = subprocess.run(command, env=dict(environment), capture_output=True, text=True,
                                    timeout=COMPOSE_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise EngineUnavailable(f"docker-compose {arguments[0]} did not finish in {COMPOSE_TIMEOUT}s") from None
        if result.returncode != 0:
            raise Refused(f"docker-compose {' '.join(arguments)} failed: {_compose_reason(result)}")
        return result.stdout

    def build_images(self, script: Path) -> None:
        result = subprocess.run([str(script)], check=False)
        if result.returncode != 0:
            raise Refused(f"{Path(script).parent.name}/{Path(script).name} failed (exit {result.returncode}); "
                          "its output is above")


def _reason(error: BaseException) -> str:
    return one_line(str(error), REASON_LENGTH)


def _env(environment):
    return dict(environment) if environment else None


def _state(attrs: dict) -> ContainerState:
    state = attrs.get("State") or {}
    health = state.get("Health") or {}
    probes = health.get("Log") or []
    config = attrs.get("Config") or {}
    networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    return ContainerState(
        name=attrs.get("Name", "").lstrip("/"),
        id=attrs["Id"],
        status=state.get("Status", "unknown"),
        health=health.get("Status"),
        exit_code=state.get("ExitCode", 0),
        image_id=attrs.get("Image", ""),
        image_ref=config.get("Image", ""),
        labels=config.get("Labels") or {},
        health_output=one_line(probes[-1].get("Output") or "") if probes else "",
        restarts=attrs.get("RestartCount", 0),
        workdir=config.get("WorkingDir") or "/",
        networks={name: (endpoint or {}).get("IPAddress") or "" for name, endpoint in networks.items()},
        health_command=_health_command((config.get("Healthcheck") or {}).get("Test") or []),
    )


def _health_command(test: list) -> tuple[str, ...]:
    """Docker's Healthcheck.Test as an argv: ["CMD", argv...] or ["CMD-SHELL", line]; NONE or none: ()."""
    if test[:1] == ["CMD"]:
        return tuple(test[1:])
    if test[:1] == ["CMD-SHELL"] and len(test) == 2:
        return ("/bin/sh", "-c", test[1])
    return ()


def _ipam(subnet):
    if subnet is None:
        return None
    import docker.types

    return docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(subnet))])


def _compose_reason(result) -> str:
    lines = [line.strip() for line in (result.stderr or result.stdout or "").splitlines() if line.strip()]
    # compose v1 ends with a generic "Encountered errors ..."; the useful line is an earlier ERROR.
    specific = [line for line in lines if line.startswith("ERROR") and "Encountered errors" not in line]
    reason = (specific or lines or [f"exit code {result.returncode}"])[0]
    return one_line(reason.removeprefix("ERROR:"), 400)


def _demux(data: bytes) -> str:
    """The payload of Docker's multiplexed stream frames (8-byte header each), as text."""
    parts, offset = [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset + 4:offset + 8], "big")
        parts.append(data[offset + 8:offset + 8 + size])
        offset += 8 + size
    return b"".join(parts).decode("utf-8", "replace")


def _node(attrs: dict) -> NodeState:
    spec, description = attrs.get("Spec") or {}, attrs.get("Description") or {}
    status, manager = attrs.get("Status") or {}, attrs.get("ManagerStatus") or {}
    return NodeState(id=attrs.get("ID", ""), hostname=description.get("Hostname", ""),
                     role=spec.get("Role", ""), leader=bool(manager.get("Leader")),
                     availability=spec.get("Availability", ""), state=status.get("State", ""),
                     address=status.get("Addr", ""),
                     engine_version=(description.get("Engine") or {}).get("EngineVersion", ""),
                     labels=dict(spec.get("Labels") or {}))


def _task(attrs: dict, service: dict) -> TaskState:
    status, spec = attrs.get("Status") or {}, service.get("Spec") or {}
    container = (attrs.get("Spec") or {}).get("ContainerSpec") or {}
    exit_code = ((status.get("ContainerStatus") or {}).get("ExitCode")
                 if status.get("State") in ("complete", "failed") else None)
    return TaskState(service=spec.get("Name", ""), slot=attrs.get("Slot"), node_id=attrs.get("NodeID", ""),
                     state=status.get("State", ""), desired_state=attrs.get("DesiredState", ""),
                     labels=dict(spec.get("Labels") or {}), error=status.get("Err", ""), id=attrs.get("ID", ""),
                     networks=_task_addresses(attrs), exit_code=exit_code,
                     container_labels=dict(container.get("Labels") or {}))


def _task_addresses(attrs: dict) -> dict:
    """Network name -> the task's IPv4 address on it (Swarm gives them in CIDR form)."""
    return {(attachment.get("Network") or {}).get("Spec", {}).get("Name", ""):
            (attachment.get("Addresses") or [""])[0].split("/")[0]
            for attachment in attrs.get("NetworksAttachments") or []}


def label_filters(labels: Mapping[str, str]) -> dict:
    """The Docker API's filter for objects carrying every one of ``labels``."""
    return {"label": [f"{key}={value}" for key, value in labels.items()]}
