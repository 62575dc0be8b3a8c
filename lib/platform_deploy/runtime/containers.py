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
        _change(f"start {name}", container.start)


def stop(name: str, timeout: int = 10) -> None:
    container = _get(name)
    if container is not None and container.status in ("running", "restarting", "paused"):
        _change(f"stop {name}", lambda: container.stop(timeout=timeout))


def remove(name: str) -> None:
    container = _get(name)
    if container is not None:
        _change(f"remove {name}", lambda: container.remove(force=True))


def rename(name: str, new_name: str) -> None:
    container = _get(name)
    if container is None:
        raise PlatformError(f"container {name!r} does not exist")
    _change(f"rename {name} to {new_name}", lambda: container.rename(new_name), missing_ok=False)


def _change(what: str, call, missing_ok: bool = True) -> None:
    """Run one container change; a refusal is a PlatformError (the container gone already is not, if ``missing_ok``)."""
    try:
        call()
    except _errors().NotFound:
        if not missing_ok:
            raise PlatformError(f"cannot {what}: the container is gone") from None
    except _errors().APIError as error:
        raise PlatformError(f"cannot {what}: {_short(error)}") from None


def address_on(name: str, network: str) -> str | None:
    """The container's IPv4 address on ``network``; None when it is not attached (or not running)."""
    container = _get(name)
    if container is None:
        return None
    endpoint = (container.attrs.get("NetworkSettings", {}).get("Networks") or {}).get(network) or {}
    return endpoint.get("IPAddress") or None


def hold_address(network: str, address: str, image: str, labels: dict, seconds: int) -> str:
    """Start a container that takes ``address`` on ``network`` and listens on nothing; return its id.

    Connections to the address are then refused at once instead of waiting for a
    timeout. It runs ``sleep`` from ``image`` (already local) and removes itself
    after ``seconds``.
    """
    api = client().api
    try:
        created = api.create_container(
            image, command=[str(seconds)], entrypoint=["sleep"], labels=labels,
            host_config=api.create_host_config(network_mode=network, auto_remove=True),
            networking_config=api.create_networking_config(
                {network: api.create_endpoint_config(ipv4_address=address)}))
        api.start(created["Id"])
    except _errors().APIError as error:
        raise PlatformError(f"cannot hold {address} on {network}: {_short(error)}") from None
    return created["Id"]


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


EXEC_ATTEMPTS = 3   # runs of a command whose output came back empty (see exec_run)


def exec_run(name: str, argv: list[str], environment: dict | None = None,
             output_expected: bool = False) -> tuple[int, str]:
    """Run ``argv`` in a running container; ``environment`` is passed to it, never shown.

    ``output_expected``: the command always prints something and may safely run again (a
    probe, a query). Docker 20.10 loses the whole output of a short exec now and then when
    the host is busy (exit code 0, no output: 2 in 300 execs measured here under CPU load),
    so an empty answer is asked again rather than taken as the command's.
    """
    container = _get(name)
    if container is None:
        raise PlatformError(f"container {name!r} does not exist")
    for _ in range(EXEC_ATTEMPTS if output_expected else 1):
        try:
            result = container.exec_run(argv, demux=False, environment=environment)
        except _errors().APIError as error:
            raise PlatformError(f"{name}: cannot run {argv[0]}: {_short(error)}") from None
        output = (result.output or b"").decode("utf-8", "replace")
        if output or result.exit_code != 0:
            break
    return result.exit_code, output


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


# Volumes, helper containers and streamed exec (backups) -------------------------------------------

HELPER_MOUNT = "/platform-volume"   # where a helper container sees the volume; archives hold platform-volume/...
EXEC_OUTPUT_KEPT = 64 * 1024        # bytes of a streamed exec's messages kept for the error message
ARCHIVE_CHUNK = 1024 * 1024         # largest piece of a volume archive held at once


def volume_exists(name: str) -> bool:
    try:
        client().volumes.get(name)
    except _errors().NotFound:
        return False
    return True


def _helper(volume: str, image: str, labels: dict, command: list[str]) -> str:
    """Create (not start) a container from a local ``image`` with ``volume`` at HELPER_MOUNT; no network."""
    api = client().api
    try:
        created = api.create_container(
            image, command=command, entrypoint=[], labels=labels, volumes=[HELPER_MOUNT],
            host_config=api.create_host_config(binds={volume: {"bind": HELPER_MOUNT, "mode": "rw"}},
                                               network_mode="none"))
    except _errors().APIError as error:
        raise PlatformError(f"cannot create a helper container for volume {volume}: {_short(error)}") from None
    return created["Id"]


def _remove_helper(container_id: str) -> None:
    try:
        client().api.remove_container(container_id, force=True)
    except _errors().NotFound:
        pass


def archive_volume(volume: str, image: str, labels: dict, write) -> None:
    """Stream a tar of ``volume`` (entries ``platform-volume/...``) to ``write(chunk)``.

    The archive is read through a created, never started helper container from
    ``image`` (already local: nothing is pulled); the volume itself is not changed.
    """
    helper = _helper(volume, image, labels, ["true"])
    try:
        try:
            stream, _ = client().api.get_archive(helper, HELPER_MOUNT, chunk_size=ARCHIVE_CHUNK)
        except _errors().APIError as error:
            raise PlatformError(f"cannot read volume {volume}: {_short(error)}") from None
        try:
            for chunk in stream:
                write(chunk)
        finally:
            stream.close()
    finally:
        _remove_helper(helper)


def replace_volume_contents(volume: str, image: str, labels: dict, chunks) -> None:
    """Empty ``volume``, then extract the tar given as ``chunks`` (entries ``platform-volume/...``) into it.

    ``image`` must have ``sh`` and ``find`` (the helper runs them to empty the volume).
    Ownership, modes and links in the archive are kept.
    """
    api = client().api
    helper = _helper(volume, image, labels, ["sh", "-c", f"find {HELPER_MOUNT} -mindepth 1 -delete"])
    try:
        try:
            api.start(helper)
            code = api.wait(helper, timeout=600).get("StatusCode")
        except _errors().APIError as error:
            raise PlatformError(f"cannot empty volume {volume}: {_short(error)}") from None
        if code != 0:
            output = api.logs(helper).decode("utf-8", "replace")
            raise PlatformError(f"cannot empty volume {volume}: {' '.join(output.split())[:300]}")
        try:
            if not api.put_archive(helper, "/", chunks):
                raise PlatformError(f"Docker refused the archive for volume {volume}")
        except _errors().APIError as error:
            raise PlatformError(f"cannot write volume {volume}: {_short(error)}") from None
    finally:
        _remove_helper(helper)


def exec_to(name: str, argv: list[str], write, environment: dict | None = None) -> tuple[int, str]:
    """Run ``argv`` in a running container, streaming its stdout to ``write(chunk)``.

    Return (exit code, stderr); ``environment`` is passed to the process, never shown.
    """
    api = client().api
    try:
        exec_id = api.exec_create(name, argv, stdout=True, stderr=True, environment=environment)["Id"]
        stream = api.exec_start(exec_id, stream=True, demux=True)
    except _errors().NotFound:
        raise PlatformError(f"container {name!r} does not exist") from None
    except _errors().APIError as error:
        raise PlatformError(f"{name}: cannot run {argv[0]}: {_short(error)}") from None
    messages = bytearray()
    try:
        for out, err in stream:
            if out:
                write(out)
            if err and len(messages) < EXEC_OUTPUT_KEPT:
                messages += err
    finally:
        stream.close()
    return _exit_code(exec_id), messages.decode("utf-8", "replace")


def exec_from(name: str, argv: list[str], chunks, environment: dict | None = None) -> tuple[int, str]:
    """Run ``argv`` in a running container with ``chunks`` (bytes) as its stdin; return (exit code, output)."""
    import socket
    import threading

    api = client().api
    try:
        exec_id = api.exec_create(name, argv, stdin=True, stdout=True, stderr=True,
                                  environment=environment)["Id"]
        connection = api.exec_start(exec_id, socket=True)
    except _errors().NotFound:
        raise PlatformError(f"container {name!r} does not exist") from None
    except _errors().APIError as error:
        raise PlatformError(f"{name}: cannot run {argv[0]}: {_short(error)}") from None
    raw = getattr(connection, "_sock", connection)
    received = bytearray()

    def read_output():  # read while writing: a process blocked on a full output pipe stops reading stdin
        while True:
            data = raw.recv(65536)
            if not data:
                return
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
    return _exit_code(exec_id), _demux(bytes(received))


def _exit_code(exec_id: str, timeout: float = 30) -> int:
    import time

    deadline = time.monotonic() + timeout
    while True:
        info = client().api.exec_inspect(exec_id)
        if not info.get("Running") or time.monotonic() > deadline:
            code = info.get("ExitCode")
            return -1 if code is None else code
        time.sleep(0.05)


def _demux(data: bytes) -> str:
    """The payload of Docker's multiplexed stream frames (8-byte header each), as text."""
    parts, offset = [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset + 4:offset + 8], "big")
        parts.append(data[offset + 8:offset + 8 + size])
        offset += 8 + size
    return b"".join(parts).decode("utf-8", "replace")
