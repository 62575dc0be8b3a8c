"""The only module that imports the Docker SDK.

Functions take and return plain values so callers (and their unit tests) never
see SDK objects. Docker errors become PlatformError with a message saying what
to do.
"""

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
