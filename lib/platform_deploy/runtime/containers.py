"""Containers, images and networks on the local Docker engine, as plain values.

The deploy pipeline decides (pure code over ContainerSpec/ContainerState) and
calls these to act. A second engine backend (Swarm) would provide the same
functions.
"""

from dataclasses import dataclass, field

from ..errors import PlatformError
from .docker import _errors, _short, client


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    network: str
    environment: dict = field(default_factory=dict, repr=False)  # secrets: never shown
    labels: dict = field(default_factory=dict)
    volumes: tuple[tuple[str, str], ...] = ()
    stop_timeout: int = 10


@dataclass(frozen=True)
class ContainerState:
    name: str
    id: str
    status: str                 # created, running, restarting, exited, dead, paused
    health: str | None          # starting, healthy, unhealthy; None without a HEALTHCHECK
    exit_code: int
    image_id: str
    image_ref: str
    labels: dict


def _state(container) -> ContainerState:
    attrs = container.attrs
    state = attrs.get("State", {})
    return ContainerState(
        name=container.name,
        id=container.id,
        status=state.get("Status", "unknown"),
        health=(state.get("Health") or {}).get("Status"),
        exit_code=state.get("ExitCode", 0),
        image_id=attrs.get("Image", ""),
        image_ref=attrs.get("Config", {}).get("Image", ""),
        labels=attrs.get("Config", {}).get("Labels") or {},
    )


def _get(name):
    try:
        return client().containers.get(name)
    except _errors().NotFound:
        return None


def inspect(name: str) -> ContainerState | None:
    container = _get(name)
    return _state(container) if container else None


def find(labels: dict) -> list[ContainerState]:
    filters = {"label": [f"{key}={value}" for key, value in labels.items()]}
    return [_state(c) for c in client().containers.list(all=True, filters=filters)]


def docker_root() -> str:
    return client().info().get("DockerRootDir", "/var/lib/docker")


def disconnect(network: str, container: str) -> None:
    try:
        client().networks.get(network).disconnect(container, force=True)
    except _errors().NotFound:
        pass
    except _errors().APIError as error:
        if "is not connected" not in str(error):
            raise PlatformError(f"cannot disconnect {container} from {network}: {_short(error)}") from None


def run(spec: ContainerSpec) -> ContainerState:
    """Create and start a container from ``spec``, attached only to ``spec.network``."""
    engine = client()
    mounts = {volume: {"bind": path, "mode": "rw"} for volume, path in spec.volumes}
    try:
        container = engine.containers.create(
            spec.image,
            name=spec.name,
            environment=spec.environment,
            labels=spec.labels,
            network=spec.network,
            volumes=mounts,
            restart_policy={"Name": "unless-stopped"},
            stop_signal="SIGTERM",
            detach=True,
        )
        container.start()
        container.reload()
    except _errors().ImageNotFound:
        raise PlatformError(f"image {spec.image} is not on this machine; pull it first") from None
    except _errors().APIError as error:
        raise PlatformError(f"cannot start {spec.name}: {_short(error)}") from None
    return _state(container)


def start(name: str) -> None:
    container = _get(name)
    if container is not None:
        container.start()


def stop(name: str, timeout: int = 10) -> None:
    container = _get(name)
    if container is not None and container.status in ("running", "restarting", "paused"):
        try:
            container.stop(timeout=timeout)
        except _errors().NotFound:
            pass


def remove(name: str) -> None:
    container = _get(name)
    if container is not None:
        try:
            container.remove(force=True)
        except _errors().NotFound:
            pass


def rename(name: str, new_name: str) -> None:
    container = _get(name)
    if container is None:
        raise PlatformError(f"container {name!r} does not exist")
    container.rename(new_name)


def file_exists(name: str, path: str) -> bool:
    """Whether ``path`` exists in the container's filesystem (no shell needed in the image)."""
    try:
        client().api.get_archive(name, path)
        return True
    except _errors().NotFound:
        return False


def workdir(name: str) -> str:
    container = _get(name)
    return (container.attrs.get("Config", {}).get("WorkingDir") if container else "") or "/"


def exec_run(name: str, argv: list[str], environment: dict | None = None) -> tuple[int, str]:
    """Run ``argv`` in a running container; ``environment`` is passed to it, never shown."""
    container = _get(name)
    if container is None:
        raise PlatformError(f"container {name!r} does not exist")
    try:
        result = container.exec_run(argv, demux=False, environment=environment)
    except _errors().APIError as error:
        raise PlatformError(f"{name}: cannot run {argv[0]}: {_short(error)}") from None
    return result.exit_code, (result.output or b"").decode("utf-8", "replace")


# Images -------------------------------------------------------------------------------------------

def pull(repository: str, tag: str) -> str:
    """Pull ``repository:tag`` with the host's credentials; return the image id."""
    try:
        image = client().images.pull(repository, tag=tag)
    except _errors().APIError as error:
        raise PlatformError(f"cannot pull {repository}:{tag}: {_short(error)}") from None
    return image.id


def image_info(reference: str) -> tuple[str, str | None, dict] | None:
    """(image id, repo digest or None, labels) of a local image, or None when absent."""
    try:
        image = client().images.get(reference)
    except _errors().ImageNotFound:
        return None
    digests = image.attrs.get("RepoDigests") or []
    return image.id, (digests[0] if digests else None), image.labels or {}


def tag(image_id: str, repository: str, tag_name: str) -> None:
    try:
        client().images.get(image_id).tag(repository, tag=tag_name)
    except _errors().APIError as error:
        raise PlatformError(f"cannot tag {repository}:{tag_name}: {_short(error)}") from None


def untag(reference: str) -> None:
    try:
        client().images.remove(reference, noprune=False)
    except _errors().ImageNotFound:
        pass
    except _errors().APIError:
        pass  # still used by a container: it stays until that container goes


def prune_dangling() -> int:
    """Remove dangling images; return bytes reclaimed."""
    result = client().images.prune(filters={"dangling": True})
    return result.get("SpaceReclaimed") or 0
