"""The container engine boundary: what the product asks of Docker, in our own types.

Everything above this package (deploy, backup, status, nginx, platform services)
talks to an ``Engine`` it was handed, never to an SDK: ``engine.docker.DockerEngine``
is the one implementation that imports the Docker SDK or runs ``docker-compose``,
and tests hand in a fake (tests/fakes.py). A second backend (Swarm) is one new
module implementing the same protocol.

Every engine failure is one of four errors, all PlatformErrors with a one-line
message: ``NotFound``, ``Conflict``, ``Refused`` (the engine's own reason) and
``EngineUnavailable`` (the engine is gone, timed out or broke a stream).
"""

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Protocol

from ..errors import PlatformError


class EngineError(PlatformError):
    """A request the engine did not carry out; ``detail`` is the engine's whole answer, for matching."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail or message


class NotFound(EngineError):
    """The container, image, network or volume does not exist."""


class Conflict(EngineError):
    """The object is in a state that forbids the request (not running, name taken)."""


class Refused(EngineError):
    """The engine refused the request; the message carries its reason."""


class EngineUnavailable(EngineError):
    """The engine cannot be reached, timed out, or broke the connection mid-request."""


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    network: str
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)  # secrets: never shown
    labels: Mapping[str, str] = field(default_factory=dict)
    volumes: tuple[tuple[str, str], ...] = ()      # (volume name, mount path)
    cpu_shares: int | None = None                  # relative CPU weight under contention; None: the default


@dataclass(frozen=True)
class ContainerState:
    name: str
    id: str
    status: str                 # created, running, restarting, exited, dead, paused
    health: str | None          # starting, healthy, unhealthy; None without a HEALTHCHECK
    exit_code: int
    image_id: str
    image_ref: str              # the reference it was created from, e.g. repo:tag
    labels: Mapping[str, str] = field(default_factory=dict)
    health_output: str = ""     # the last health probe's output, on one line
    restarts: int = 0
    workdir: str = "/"
    networks: Mapping[str, str] = field(default_factory=dict)   # network name -> IPv4 address ("" if none)
    health_command: tuple[str, ...] = ()   # its HEALTHCHECK as an argv (a shell form runs in sh -c); () without

    @property
    def running(self) -> bool:
        return self.status == "running"


@dataclass(frozen=True)
class ImageInfo:
    id: str
    digest: str | None          # repo@sha256:..., None for an image never pushed or pulled
    labels: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()      # every repo:tag naming it (Docker's RepoTags)
    digests: tuple[str, ...] = ()   # every repo@sha256:... (RepoDigests)
    health_command: tuple[str, ...] = ()   # its HEALTHCHECK as an argv, as ContainerState's; () without


@dataclass(frozen=True)
class NodeState:
    """A swarm node as its manager sees it."""

    id: str
    hostname: str
    role: str                   # manager, worker
    leader: bool
    availability: str           # active, pause, drain
    state: str                  # ready, down, unknown, disconnected
    address: str
    engine_version: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskState:
    """One task of a swarm service: where it runs and how it is doing."""

    service: str
    slot: int | None            # None for a global service's task
    node_id: str
    state: str                  # new ... running, complete, failed, shutdown, rejected
    desired_state: str          # running, shutdown
    labels: Mapping[str, str] = field(default_factory=dict)   # its service's labels
    error: str = ""
    id: str = ""
    networks: Mapping[str, str] = field(default_factory=dict)  # network name -> the task's IPv4 address there
    exit_code: int | None = None   # a finished container's
    container_labels: Mapping[str, str] = field(default_factory=dict)   # its container's, set per deploy

    @property
    def live(self) -> bool:
        """Meant to run and running: with a HEALTHCHECK, Swarm reports running only once it passed."""
        return self.desired_state == "running" and self.state == "running"


@dataclass(frozen=True)
class ServiceSpec:
    """A swarm service as the product asks for it; see engine/swarm.py for what each field becomes."""

    name: str
    image: str
    networks: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)  # secrets: never shown
    labels: Mapping[str, str] = field(default_factory=dict)
    replicas: int = 1               # ignored with global_mode
    global_mode: bool = False       # one task on every node the constraints allow
    constraints: tuple[str, ...] = ()
    volumes: tuple[tuple[str, str], ...] = ()       # (volume name, mount path)
    binds: tuple[tuple[str, str], ...] = ()         # (host path, path inside), read-only
    host_ports: tuple[tuple[int, int], ...] = ()    # (published on the node, target): host mode, no routing mesh
    command: tuple[str, ...] = ()   # () runs the image's own
    stop_grace_seconds: int = 10
    configs: tuple[tuple[str, str], ...] = ()       # (swarm config name, file path inside)


@dataclass(frozen=True)
class ServiceState:
    id: str
    name: str
    version: int                    # the spec's version, which an update must name
    labels: Mapping[str, str]
    image: str
    replicas: int | None            # None for a global service
    update_state: str = ""          # "", updating, completed, paused, rollback_*
    update_message: str = ""
    spec: Mapping = field(default_factory=dict, repr=False)   # the engine's whole spec, env included
    previous_spec: Mapping | None = field(default=None, repr=False)   # before its last update (Swarm keeps it)


class ExecResult(NamedTuple):
    exit_code: int
    output: str


class Engine(Protocol):
    """The operations the product needs. Names are container/network/volume names or ids."""

    def data_root(self) -> str:
        """Where the engine keeps images and volumes on this host (for the disk-space check)."""

    # Containers
    def inspect(self, name: str) -> ContainerState | None: ...
    def find(self, labels: Mapping[str, str]) -> list[ContainerState]: ...
    def run(self, spec: ContainerSpec) -> ContainerState:
        """Create and start a container attached only to ``spec.network``, restarted unless stopped."""
    def start(self, name: str) -> None:
        """Start it; a missing container is not an error."""
    def stop(self, name: str, timeout: int = 10) -> None:
        """Stop it gracefully (SIGKILL after ``timeout``); missing or stopped is not an error."""
    def remove(self, name: str) -> None:
        """Remove it, running or not; missing is not an error."""
    def rename(self, name: str, new_name: str) -> None: ...
    def set_cpu_shares(self, name: str, shares: int) -> None:
        """Change a container's relative CPU weight while it runs."""
    def logs(self, name: str, follow: bool = False, since: int | None = None,
             tail: int | None = None) -> Iterator[bytes]:
        """The container's output as the engine keeps it (stdout and stderr), from ``since`` (Unix seconds),
        its last ``tail`` lines; with ``follow``, then what it writes until it stops."""
    def exec_attached(self, name: str, argv: list[str], tty: bool) -> int:
        """Run a command in the container with this process's stdin, stdout and stderr (a terminal with
        ``tty``); return its exit code."""
    def logs_tail(self, name: str, lines: int = 5) -> str:
        """The last lines of its output; "" when it has none or is gone."""
    def file_exists(self, name: str, path: str) -> bool: ...
    def run_beside(self, name: str, image: str, argv: list[str], labels: Mapping[str, str],
                   capabilities: tuple[str, ...] = (), timeout: float = 60) -> ExecResult:
        """Run a helper container from a local ``image`` in the network namespace of the running container
        ``name``, with these extra ``capabilities`` (NET_ADMIN, say), until it exits; (exit code, output)."""
    def start_beside(self, name: str, image: str, argv: list[str], labels: Mapping[str, str],
                     capabilities: tuple[str, ...] = ()) -> str:
        """Start such a helper and return its id at once; it is removed when it exits."""

    # Commands in running containers (``environment`` is passed to the process, never shown)
    def exec_run(self, name: str, argv: list[str], environment: Mapping[str, str] | None = None,
                 output_expected: bool = False) -> ExecResult:
        """Run to completion; (exit code, stdout and stderr). ``output_expected``: the command always
        prints something and may run again, so an empty answer is asked again."""
    def exec_to(self, name: str, argv: list[str], write: Callable[[bytes], None],
                environment: Mapping[str, str] | None = None) -> ExecResult:
        """Stream stdout to ``write``; (exit code, stderr)."""
    def exec_from(self, name: str, argv: list[str], chunks: Iterable[bytes],
                  environment: Mapping[str, str] | None = None) -> ExecResult:
        """Feed ``chunks`` to stdin; (exit code, output)."""

    # Images
    def pull(self, repository: str, tag: str) -> str:
        """Pull with the host's credentials; return the image id."""
    def image(self, reference: str) -> ImageInfo | None: ...
    def tag(self, image_id: str, repository: str, tag: str) -> None: ...
    def untag(self, reference: str) -> None:
        """Remove a tag; missing, or still used by a container, is not an error."""
    def prune_dangling(self) -> int:
        """Remove dangling images; return the bytes reclaimed."""

    # Networks
    def ensure_network(self, name: str, labels: Mapping[str, str], subnet_pool: str | None = None) -> bool:
        """Create it unless it exists (with a free /24 of ``subnet_pool``); True when created."""
    def network_subnets(self, name: str) -> list[str]:
        """The network's IPv4 subnets (CIDR); [] when it does not exist."""
    def connect(self, container: str, network: str, aliases: list[str] | None = None) -> bool:
        """Attach a running container unless it already is; True when attached now."""
    def disconnect(self, container: str, network: str) -> None:
        """Detach; not attached, or either one missing, is not an error."""

    # Volumes (the helper containers run ``image``, already local, with no network)
    def volume_exists(self, name: str) -> bool: ...
    def archive_volume(self, volume: str, image: str, labels: Mapping[str, str],
                       write: Callable[[bytes], None]) -> None:
        """Stream a tar of the volume (entries ``platform-volume/...``) to ``write``."""
    def replace_volume_contents(self, volume: str, image: str, labels: Mapping[str, str],
                                chunks: Iterable[bytes]) -> None:
        """Empty the volume, then extract the tar given as ``chunks`` into it."""

    # The platform services of this host
    def compose(self, compose_file: Path, project: str, arguments: list[str],
                environment: Mapping[str, str]) -> str:
        """Run docker-compose with ``arguments``; return its stdout."""
    def build_images(self, script: Path) -> None:
        """Run the script that builds the platform's local images (its output goes to the terminal)."""


class Cluster(Protocol):
    """What the product asks of a swarm: the Docker API of a manager node (DOCKER_HOST as usual)."""

    def nodes(self) -> list[NodeState]:
        """Every node of the swarm; Refused when the engine is not a swarm manager."""
    def service_tasks(self, labels: Mapping[str, str]) -> list[TaskState]:
        """The tasks the swarm keeps of the services carrying all of ``labels`` (every service for {})."""
    def service(self, name: str) -> ServiceState | None: ...
    def services(self, labels: Mapping[str, str]) -> list[ServiceState]: ...
    def create_service(self, spec: ServiceSpec) -> None: ...
    def update_service(self, spec: ServiceSpec) -> None:
        """Roll the service to ``spec``: every new task started and healthy before the old ones stop."""
    def repost_service(self, name: str, spec: Mapping) -> None:
        """Put back a spec read earlier (a ServiceState's ``previous_spec``), rolled out like update_service."""
    def remove_service(self, name: str) -> None:
        """Remove it and its tasks; missing is not an error."""
    def run_job(self, spec: ServiceSpec, timeout: float) -> ExecResult:
        """Run ``spec.command`` once as a job task (with ``global_mode``, once on every node the constraints
        allow); (exit code, output): the first failed task's code, everyone's output. The job is removed after."""
    def create_config(self, name: str, data: bytes, labels: Mapping[str, str]) -> None:
        """A swarm config (a file every node can mount, at most 500 KB); an existing one is left as it is."""
    def remove_config(self, name: str) -> None:
        """Remove it; missing is not an error."""
    def ensure_overlay(self, name: str, labels: Mapping[str, str]) -> bool:
        """Create an attachable overlay network unless it exists; True when created."""
    def network_id(self, name: str) -> str | None: ...
    def local_node_id(self) -> str:
        """The swarm node this engine is."""
