"""What a deploy will do, decided up front from the registry alone (pure, no I/O)."""

import getpass
import os
import re
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timezone

from .errors import PlatformError
from .naming import candidate_name, deploy_labels, network_name, volume_name
from .state.records import RoleNames

TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True)
class RolePlan:
    role: str
    live_name: str           # e.g. filter-ical-backend-production: the name users and nginx know
    new_name: str            # the candidate beside it until the switch, e.g. ...-production-next-<id>
    repository: str
    image: str               # repository:tag
    port: int
    smoke_paths: tuple[str, ...] | None
    health_timeout: int
    drain_timeout: int
    migrations: bool | str
    volumes: tuple[tuple[str, str], ...]   # (docker volume name, mount path)
    replicas: int                          # on a swarm: how many tasks, ...
    placement: tuple[str, ...]             # ... on which nodes (constraints like node.labels.zone==a)


@dataclass(frozen=True)
class DeployPlan:
    project: str
    environment: str
    deploy_id: str
    tag: str
    network: str
    domains: tuple[str, ...]
    roles: tuple[RolePlan, ...]

    def labels(self, role: str) -> dict:
        return deploy_labels(self.project, self.environment, role, self.deploy_id)

    @property
    def role_names(self) -> tuple[RoleNames, ...]:
        return tuple(RoleNames(role.role, role.live_name, role.new_name, role.port, role.drain_timeout)
                     for role in self.roles)


def new_deploy_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%d%H%M%S}-{secrets.token_hex(2)}"


def deployed_by(environ=os.environ) -> str:
    if environ.get("DEPLOYED_BY"):
        return environ["DEPLOYED_BY"]
    if environ.get("GITHUB_ACTIONS") == "true":
        return "github-actions"
    return f"{getpass.getuser()}@{socket.gethostname()}"


def git_sha_from(environ=os.environ) -> str | None:
    """The commit being deployed, when the caller (CI) says which."""
    return environ.get("GIT_SHA") or environ.get("GITHUB_SHA")


def make_plan(project, environment: str, tag: str, deploy_id: str) -> DeployPlan:
    project.check_environment(environment)
    if not TAG.fullmatch(tag):   # fullmatch: `$` would also accept a trailing newline
        raise PlatformError(f"--tag {tag!r} is not a Docker image tag (letters, digits, _ . -; at most 128)")
    missing = [c.role for c in project.containers if not c.image]
    if missing:
        raise PlatformError(f"projects/{project.name}/containers/{missing[0]}/image: required to deploy; "
                            "set the image repository (e.g. ghcr.io/user/app) in config/projects.yml")
    roles = tuple(
        RolePlan(
            role=container.role,
            live_name=container.container_name(environment),
            new_name=candidate_name(container.container_name(environment), deploy_id),
            repository=container.image,
            image=f"{container.image}:{tag}",
            port=container.port,
            smoke_paths=container.smoke_paths,
            health_timeout=container.health_timeout,
            drain_timeout=container.drain_timeout,
            migrations=container.migrations,
            volumes=tuple((volume_name(volume, environment), mount) for volume, mount in container.volumes),
            replicas=container.replicas,
            placement=container.placement,
        )
        for container in project.containers
    )
    return DeployPlan(project=project.name, environment=environment, deploy_id=deploy_id, tag=tag,
                      network=network_name(project.name, environment),
                      domains=project.domains_for(environment), roles=roles)
