"""The only module that imports the Docker SDK.

Functions take and return plain values so callers (and their unit tests) never
see SDK objects. Docker errors become PlatformError with a message saying what
to do.
"""

import ipaddress
import sys
from functools import lru_cache

from ..errors import PlatformError


@lru_cache(maxsize=1)
def client():
    """A Docker client from the environment (DOCKER_HOST or the local socket), checked once."""
    import docker  # imported here: commands that never touch Docker stay fast

    try:
        engine = docker.from_env(timeout=120)
        engine.ping()
    except docker.errors.DockerException as error:
        raise PlatformError(
            f"cannot reach the Docker engine ({_short(error)}); start it (bin/setup does) or set DOCKER_HOST"
        ) from None
    return engine


def _short(error) -> str:
    return " ".join(str(error).split())[:200]


def engine_failure(error: BaseException) -> PlatformError | None:
    """The PlatformError to show when ``error`` means the Docker engine went away mid-command, else None.

    The SDK does not wrap transport errors: a daemon stopped or restarting surfaces
    as one of requests' connection, timeout or broken-stream errors.
    """
    if "requests" not in sys.modules:  # nothing talked to Docker, so this cannot be its error
        return None
    import requests

    transport = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                 requests.exceptions.ChunkedEncodingError)
    if isinstance(error, transport):
        return PlatformError(f"lost the connection to the Docker engine ({_short(error)}); "
                             "check that it runs (bin/start-docker starts it)")
    return None


def _errors():
    import docker

    return docker.errors


def exec_in(container_name: str, command: list[str], user: str | None = None) -> tuple[int, str]:
    """Run ``command`` inside a running container; return (exit code, combined output)."""
    container = get_running(container_name)
    try:
        result = container.exec_run(command, user=user or "", demux=False)
    except _errors().APIError as error:
        raise PlatformError(f"{container_name}: cannot run {command[0]}: {_short(error)}") from None
    return result.exit_code, (result.output or b"").decode("utf-8", "replace")


def get_running(container_name: str):
    """The running container named ``container_name``, or a PlatformError saying how to start it."""
    try:
        container = client().containers.get(container_name)
    except _errors().NotFound:
        raise PlatformError(f"container {container_name!r} does not exist; start it with `invoke platform.up`") from None
    if container.status != "running":
        raise PlatformError(f"container {container_name!r} is {container.status}; start it with `invoke platform.up`")
    return container


def signal(container_name: str, signal_name: str) -> None:
    try:
        get_running(container_name).kill(signal=signal_name)
    except _errors().APIError as error:
        raise PlatformError(f"{container_name}: cannot send {signal_name}: {_short(error)}") from None


def image_exists(image: str) -> bool:
    try:
        client().images.get(image)
    except _errors().ImageNotFound:
        return False
    except _errors().APIError as error:
        raise PlatformError(f"cannot inspect image {image}: {_short(error)}") from None
    return True


def container_state(container_name: str) -> dict | None:
    """``{"id", "status", "health", "health_output", "exit_code", "restarts"}`` of a container, or None.

    ``health`` is Docker's healthcheck status (starting, healthy, unhealthy) or None
    when the image has no healthcheck; ``health_output`` is the last probe's output.
    """
    try:
        attrs = client().api.inspect_container(container_name)
    except _errors().NotFound:
        return None
    except _errors().APIError as error:
        raise PlatformError(f"cannot inspect container {container_name}: {_short(error)}") from None
    state = attrs.get("State") or {}
    health = state.get("Health") or {}
    probes = health.get("Log") or []
    return {
        "id": attrs["Id"],
        "status": "restarting" if state.get("Restarting") else state.get("Status", "unknown"),
        "health": health.get("Status"),
        "health_output": " ".join((probes[-1].get("Output") or "").split()) if probes else "",
        "exit_code": state.get("ExitCode"),
        "restarts": attrs.get("RestartCount", 0),
    }


def logs_tail(container_name: str, lines: int = 5) -> str:
    """The last ``lines`` lines of a container's output ("" when it has none or is gone)."""
    try:
        output = client().containers.get(container_name).logs(tail=lines)
    except (_errors().NotFound, _errors().APIError):
        return ""
    return output.decode("utf-8", "replace").strip()


def ensure_network(name: str, labels: dict | None = None, subnet_pool: str | None = None) -> bool:
    """Create the bridge network ``name`` with ``labels`` unless it exists; True when created.

    With ``subnet_pool`` (e.g. "10.213.0.0/16") the network gets the first free /24 of it,
    so a server is not limited to the ~30 networks of Docker's default address pools.
    """
    if _network_named(name) is not None:
        return False
    for subnet in _free_subnets(subnet_pool) if subnet_pool else [None]:
        try:
            client().networks.create(name, driver="bridge", labels=dict(labels or {}), check_duplicate=True,
                                     ipam=_ipam(subnet))
            return True
        except _errors().APIError as error:
            if _network_named(name) is not None:  # created concurrently by someone else
                return False
            if subnet is not None and "overlap" in str(error):
                continue  # taken since we looked: try the next one
            raise PlatformError(f"cannot create network {name}: {_short(error)}") from None
    raise PlatformError(f"cannot create network {name}: no free /24 left in {subnet_pool}; "
                        "set PLATFORM_SUBNET_POOL to a larger range")


def _ipam(subnet):
    if subnet is None:
        return None
    import docker

    return docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(subnet))])


def _free_subnets(pool: str):
    network = ipaddress.ip_network(pool)
    used = [ipaddress.ip_network(config["Subnet"])
            for existing in client().networks.list()
            for config in ((existing.attrs.get("IPAM") or {}).get("Config") or [])
            if config.get("Subnet") and ":" not in config["Subnet"]]
    candidates = network.subnets(new_prefix=24) if network.prefixlen <= 24 else [network]
    return [subnet for subnet in candidates if not any(subnet.overlaps(other) for other in used)]


def _network_named(name: str):
    # networks.list(names=...) matches substrings; only an exact name counts.
    return next((n for n in client().networks.list(names=[name]) if n.name == name), None)


def connect_network(container_name: str, network_name: str, aliases: list[str] | None = None) -> bool:
    """Attach a container to a network unless it already is; True when attached now."""
    container = get_running(container_name)
    if network_name in (container.attrs.get("NetworkSettings", {}).get("Networks") or {}):
        return False
    network = _network_named(network_name)
    if network is None:
        raise PlatformError(f"network {network_name!r} does not exist")
    try:
        network.connect(container_name, aliases=aliases or None)
    except _errors().APIError as error:
        if "already exists" in str(error):
            return False
        raise PlatformError(f"cannot connect {container_name} to {network_name}: {_short(error)}") from None
    return True
