"""Start and stop the shared platform services, platform-nginx and postgres-platform.

``up`` is idempotent: it builds missing images, creates the database password
file once, gives nginx a generated conf.d before its first start, runs
docker-compose, waits until both containers are healthy, then attaches both to
every project network. ``down`` removes the containers and keeps every volume.
"""

import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import PlatformError
from .fsutil import write_atomic
from .naming import PLATFORM_CONFIG_DIR, network_labels, network_name
from .nginx import files, live
from .settings import REPO_ROOT
from .textutil import one_line

COMPOSE_FILE = REPO_ROOT / "platform" / "docker-compose.yml"
BUILD_SCRIPT = REPO_ROOT / "bin" / "build-images"
IMAGES = ("platform-nginx:local", "platform-postgres:local")
POSTGRES_ENV_FILE = Path("config") / PLATFORM_CONFIG_DIR / ".env.postgres"
DEFAULT_TIMEOUT = 120


@dataclass(frozen=True)
class UpReport:
    built_images: bool
    created_password: bool
    nginx_files: tuple[str, ...]              # conf.d files written or removed
    warnings: tuple[str, ...]
    created_networks: tuple[str, ...]
    connections: tuple[tuple[str, str], ...]  # (container, network) attached by this run


def containers(settings) -> tuple[str, str]:
    return settings.nginx_container, settings.postgres_container


def compose_project(settings) -> str:
    """The compose project of a platform instance: its network's name ("platform" by default).

    Two instances with different names (a dev or test copy beside the real one) thus never
    share a compose project, so neither `up` can recreate or `down` remove the other's containers.
    """
    return re.sub(r"[^a-z0-9_-]", "", settings.network.lower())


def postgres_env_file(settings) -> Path:
    return settings.root / POSTGRES_ENV_FILE


def project_networks(registry) -> list[tuple[str, dict]]:
    """(name, labels) of every project/environment network, e.g. ``filter-ical-production``."""
    return [
        (network_name(project.name, environment), network_labels(project.name, environment))
        for project in registry.projects
        for environment in project.environments
    ]


def compose_environment(settings, base=None) -> dict:
    """``base`` (default: os.environ) plus the PLATFORM_* variables docker-compose.yml reads from settings.

    Ports, bind address and volume names (PLATFORM_HTTP_PORT, PLATFORM_POSTGRES_VOLUME, ...)
    are not settings: they pass through from ``base``.
    """
    environment = dict(os.environ if base is None else base)
    environment.update({
        "PLATFORM_ROOT": str(settings.root),
        "PLATFORM_CERTS_DIR": str(settings.certs_dir),
        "PLATFORM_NGINX_CONTAINER": settings.nginx_container,
        "PLATFORM_POSTGRES_CONTAINER": settings.postgres_container,
        "PLATFORM_NETWORK": settings.network,
    })
    return environment


def up(engine, settings, registry, timeout: float = DEFAULT_TIMEOUT) -> UpReport:
    """Bring both services up, healthy and attached to every project network; safe to repeat."""
    built = ensure_images(engine)
    created_password = ensure_password_file(settings)
    settings.conf_dir.mkdir(parents=True, exist_ok=True)
    nginx_was_running = _is_running(engine, settings.nginx_container)
    if not nginx_was_running:
        # nginx refuses to start on a broken conf.d: give its first start the generated files.
        first = files.plan(settings, registry)
        files.apply(settings, first)
    compose(engine, settings, "up", "-d")
    wait_healthy(engine, settings, timeout)
    if nginx_was_running:
        # A running nginx gets new files only after `nginx -t` accepts them (restored otherwise).
        planned = files.plan(settings, registry)
        if planned.differs:
            live.generate_and_reload(engine, settings, registry)
    else:
        planned = first
    created_networks, connections = attach_project_networks(engine, settings, registry)
    return UpReport(built, created_password, planned.differs, planned.warnings, created_networks, connections)


def down(engine, settings) -> tuple[str, ...]:
    """Stop and remove both containers (and the platform network); volumes and data stay."""
    if not postgres_env_file(settings).is_file():
        raise PlatformError(
            f"{settings.relative(postgres_env_file(settings))} is missing (docker-compose needs it); "
            f"restore it, or remove the containers with `docker rm -f {' '.join(containers(settings))}`"
        )
    present = tuple(name for name in containers(settings) if engine.inspect(name) is not None)
    compose(engine, settings, "down")
    return present


def status(engine, settings) -> list:
    """(container, ContainerState or None) of both services."""
    return [(name, engine.inspect(name)) for name in containers(settings)]


def ensure_images(engine) -> bool:
    """Run bin/build-images when an image is missing; True when it ran."""
    if all(engine.image(image) is not None for image in IMAGES):
        return False
    engine.build_images(BUILD_SCRIPT)
    return True


def ensure_password_file(settings) -> bool:
    """Create the superuser password file (random, mode 0600) unless it exists; True when created."""
    path = postgres_env_file(settings)
    if path.is_file():
        return False
    write_atomic(path, f"POSTGRES_PASSWORD={secrets.token_urlsafe(32)}\n", mode=0o600)
    return True


def compose(engine, settings, *arguments: str) -> str:
    """Run ``docker-compose -f platform/docker-compose.yml -p PROJECT ARGUMENTS``; return its stdout."""
    return engine.compose(COMPOSE_FILE, compose_project(settings), list(arguments), compose_environment(settings))


def wait_healthy(engine, settings, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Wait until both containers report healthy; fail early when one exits, restarts or is unhealthy."""
    deadline = time.monotonic() + timeout
    restarts = {}
    pending = list(containers(settings))
    while True:
        for name in list(pending):
            state = engine.inspect(name)
            if state is None:
                raise PlatformError(f"container {name} does not exist after docker-compose up")
            restarts.setdefault(name, state.restarts)
            if state.status in ("exited", "dead", "restarting") or state.restarts > restarts[name]:
                raise PlatformError(f"{name} stopped while starting: {_last_log_line(engine, name)}")
            if state.health == "unhealthy":
                raise PlatformError(f"{name} is unhealthy: {state.health_output or 'no probe output'}; "
                                    f"see `docker logs {name}`")
            if state.health == "healthy" or (state.health is None and state.running):
                pending.remove(name)
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise PlatformError(f"{', '.join(pending)} not healthy after {timeout:g}s; see `docker logs {pending[0]}`")
        time.sleep(0.5)


def _last_log_line(engine, name: str) -> str:
    lines = [line for line in engine.logs_tail(name, 20).splitlines() if line.strip()]
    return one_line(lines[-1], 300) if lines else f"no output; see `docker logs {name}`"


def _is_running(engine, name: str) -> bool:
    state = engine.inspect(name)
    return state is not None and state.running


def attach_project_networks(engine, settings, registry):
    """Create missing project networks and connect both services to each; return what changed."""
    created, connections = [], []
    for network, labels in project_networks(registry):
        if engine.ensure_network(network, labels, settings.subnet_pool):
            created.append(network)
        for container in containers(settings):
            if engine.connect(container, network):
                connections.append((container, network))
    return tuple(created), tuple(connections)
