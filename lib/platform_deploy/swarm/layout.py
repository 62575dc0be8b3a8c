"""The platform's own services on a swarm, made by ``invoke platform.up`` (docs/SWARM.md).

- platform-nginx: one task on every node labelled ``platform.edge=true``, ports 80 and
  443 published on the node itself (host mode: no routing mesh in the request path),
  its files delivered to each edge node by jobs (swarm/edge.py), the certificates
  directory bind-mounted from the same path on each.
- postgres-platform: one task on the node labelled ``platform.db=true``, its data in a
  volume there. The platform runs on that node: backups reach it locally.
- Both join the platform network and every project/environment's overlay, attachable
  and of its own, so tenants stay apart as on one host.

Swarm changes a service only by replacing its tasks, and nginx's ports cannot be bound
twice on one node: a changed nginx spec (a new project's network, say) restarts nginx
on the edge nodes. ``up`` changes a service only when its spec changed (a hash label).
"""

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass

from ..engine import ServiceSpec
from ..envfiles import parse as parse_env
from ..errors import PlatformError
from .. import platform_services
from . import edge

SPEC_HASH_LABEL = "platform.spec-hash"
NGINX_IMAGE, POSTGRES_IMAGE = platform_services.IMAGES
DB_LABEL = "platform.db"


@dataclass(frozen=True)
class SwarmUpReport:
    created_password: bool
    nginx_files: tuple[str, ...]
    warnings: tuple[str, ...]
    created_networks: tuple[str, ...]
    changed_services: tuple[str, ...]


def up(engine, settings, registry, timeout: float) -> SwarmUpReport:
    """Networks, then both services (created, or rolled to a changed spec), healthy; safe to repeat."""
    engine.nodes()   # a clear one-line error unless this is a manager
    created_password = platform_services.ensure_password_file(settings)
    for directory in (settings.conf_dir, settings.certs_dir):   # Swarm does not make a missing bind source
        directory.mkdir(parents=True, exist_ok=True)
    created = [name for name, labels in _networks(settings, registry) if engine.ensure_overlay(name, labels)]
    networks = tuple(name for name, _ in _networks(settings, registry))
    nginx_image = _image(engine, settings, NGINX_IMAGE)
    # Before nginx starts or changes: every edge node holds tested files (a running nginx reloads them).
    planned = edge.generate_and_reload(engine, settings, registry, image=nginx_image)
    specs = (nginx_spec(settings, nginx_image, networks),
             postgres_spec(settings, _image(engine, settings, POSTGRES_IMAGE), networks))
    changed = tuple(spec.name for spec in specs if _ensure(engine, spec))
    wait_running(engine, specs, timeout)
    return SwarmUpReport(created_password, planned.differs, planned.warnings, tuple(created), changed)


def _networks(settings, registry):
    return [(settings.network, {"platform.network": "platform"}), *platform_services.project_networks(registry)]


def _image(engine, settings, local_name: str) -> str:
    """The platform image as every node can pull it, pinned by digest: from PLATFORM_SWARM_REGISTRY."""
    if not settings.swarm_registry:
        raise PlatformError("setting swarm_registry (PLATFORM_SWARM_REGISTRY) is empty: on a swarm every node "
                            f"pulls the platform's images; push {local_name} to a registry they reach and name it")
    repository, tag = f"{settings.swarm_registry}/{local_name}".rsplit(":", 1)
    image = engine.image(engine.pull(repository, tag))
    digest = image.digest if image is not None else None
    if not digest:
        raise PlatformError(f"{repository}:{tag} has no registry digest; push it to {settings.swarm_registry}")
    return digest


def nginx_spec(settings, image: str, networks: tuple[str, ...]) -> ServiceSpec:
    return ServiceSpec(
        name=settings.nginx_container, image=image, networks=networks, global_mode=True,
        labels={"platform.service": "nginx"}, constraints=(edge.EDGE_CONSTRAINT,),
        command=("sh", "-c", edge.START_SCRIPT), binds=((str(settings.certs_dir), "/etc/letsencrypt"),),
        volumes=((os.environ.get("PLATFORM_CERTBOT_VOLUME", "platform-certbot-webroot"), "/var/www/certbot"),
                 (edge.FILES_VOLUME, edge.FILES_DIR)),
        host_ports=((int(os.environ.get("PLATFORM_HTTP_PORT", 80)), 80),
                    (int(os.environ.get("PLATFORM_HTTPS_PORT", 443)), 443)))


def postgres_spec(settings, image: str, networks: tuple[str, ...]) -> ServiceSpec:
    password_file = platform_services.postgres_env_file(settings)
    return ServiceSpec(
        name=settings.postgres_container, image=image, networks=networks,
        environment=parse_env(password_file.read_text()), labels={"platform.service": "postgres"},
        constraints=(f"node.labels.{DB_LABEL}==true",),
        volumes=((os.environ.get("PLATFORM_POSTGRES_VOLUME", "postgres-platform-data"), "/var/lib/postgresql/data"),),
        stop_grace_seconds=60)


def _ensure(engine, spec: ServiceSpec) -> bool:
    """Create the service, or roll it to ``spec`` when that changed; True when it did either."""
    digest = hashlib.sha256(json.dumps(asdict(spec), sort_keys=True, default=str).encode()).hexdigest()[:16]
    labelled = ServiceSpec(**{**asdict(spec), "labels": {**spec.labels, SPEC_HASH_LABEL: digest}})
    current = engine.service(spec.name)
    if current is None:
        engine.create_service(labelled)
        return True
    if current.labels.get(SPEC_HASH_LABEL) == digest:
        return False
    engine.update_service(labelled)
    return True


def wait_running(engine, specs, timeout: float) -> None:
    """Until each service has a running (with a HEALTHCHECK: healthy) task and none starting."""
    deadline = time.monotonic() + timeout
    while True:
        pending = [spec.name for spec in specs if not _settled(engine, spec)]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise PlatformError(f"{', '.join(pending)} not running after {timeout:g}s{_last_error(engine, specs)}; "
                                f"see `docker service ps --no-trunc {pending[0]}`")
        time.sleep(0.5)


def _settled(engine, spec: ServiceSpec) -> bool:
    tasks = [task for task in engine.service_tasks(spec.labels)
             if task.service == spec.name and task.desired_state == "running"]
    return bool(tasks) and all(task.live for task in tasks)


def _last_error(engine, specs) -> str:
    errors = [f"{task.service}: {task.error}" for spec in specs for task in engine.service_tasks(spec.labels)
              if task.service == spec.name and task.error]
    return f" ({errors[-1]})" if errors else ""
