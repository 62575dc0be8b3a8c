"""Frozen objects the rest of the tool works with; built only by ``validate``."""

from dataclasses import dataclass

from ..errors import PlatformError
from ..naming import container_name

ENVIRONMENTS = ("production", "staging")
DEFAULT_ENV_FILE = "config/{project}/.env.{environment}"
DEFAULT_HEALTH_TIMEOUT = 60
DEFAULT_DRAIN_TIMEOUT = 10
DEFAULT_RATE = "10r/s"
DEFAULT_REPLICAS = 1


@dataclass(frozen=True)
class Container:
    role: str
    name: str
    port: int
    api_locations: tuple[str, ...] = ()
    image: str | None = None
    # None means "try /health, then / if /health does not exist".
    smoke_paths: tuple[str, ...] | None = None
    health_timeout: int = DEFAULT_HEALTH_TIMEOUT
    drain_timeout: int = DEFAULT_DRAIN_TIMEOUT   # seconds a replaced container's requests may take to finish
    # True: run `alembic upgrade head` when the image has alembic.ini; False: never; str: this command.
    migrations: bool | str = True
    volumes: tuple[tuple[str, str], ...] = ()
    env_file: str = DEFAULT_ENV_FILE
    # On a swarm (the single-host engine ignores them): how many tasks its service runs, and on which nodes,
    # as constraints without spaces, e.g. node.labels.zone==a.
    replicas: int = DEFAULT_REPLICAS
    placement: tuple[str, ...] = ()

    def container_name(self, environment: str) -> str:
        """The live container's name, e.g. ``filter-ical-backend-production``."""
        return container_name(self.name, environment)

    def env_file_path(self, project: str, environment: str) -> str:
        """The env file, relative to the platform root."""
        return self.env_file.format(project=project, environment=environment)


@dataclass(frozen=True)
class RateLimit:
    zone: str
    burst: int
    rate: str = DEFAULT_RATE


@dataclass(frozen=True)
class Database:
    type: str
    user: str
    databases: tuple[tuple[str, str], ...]
    # None means the platform's own PostgreSQL container (settings.postgres_container); naming it is allowed,
    # naming any other container is refused by Project.database_target (validation does not know the setting).
    container: str | None = None

    def database_for(self, environment: str) -> str | None:
        return dict(self.databases).get(environment)


@dataclass(frozen=True)
class DatabaseTarget:
    """Where one environment's database lives: the container that runs it, its name and its role."""

    container: str
    database: str
    role: str


@dataclass(frozen=True)
class Project:
    name: str
    domains: tuple[tuple[str, tuple[str, ...]], ...]
    containers: tuple[Container, ...]
    api_locations: tuple[str, ...] = ()
    rate_limit: RateLimit | None = None
    required_env: tuple[str, ...] = ()
    database: Database | None = None

    @property
    def environments(self) -> tuple[str, ...]:
        return tuple(environment for environment, _ in self.domains)

    def domains_for(self, environment: str) -> tuple[str, ...]:
        return dict(self.domains).get(environment, ())

    @property
    def primary_domain(self) -> str:
        """First production domain; names the generated config file and the certificate directory."""
        return self.domains_for("production")[0]

    @property
    def config_filename(self) -> str:
        """The generated nginx file, e.g. ``filter-ical.de.conf`` (a wildcard's ``*.`` dropped)."""
        return self.primary_domain.removeprefix("*.") + ".conf"

    def database_target(self, environment: str, platform_container: str) -> DatabaseTarget | None:
        """The database of ``environment`` in ``platform_container``; None when the project declares none for it.

        A project may use only the platform's PostgreSQL: any other container would be joined to the project's
        network and get psql run in it as postgres (another tenant's service, say), so naming one is refused."""
        declared = self.database
        if declared is not None and declared.container not in (None, platform_container):
            raise PlatformError(f"projects/{self.name}/database/container: {declared.container!r} is not the "
                                f"platform's PostgreSQL; remove the key or name {platform_container}")
        if declared is None or declared.database_for(environment) is None:
            return None
        return DatabaseTarget(platform_container, declared.database_for(environment), declared.user)

    def container(self, role: str) -> Container | None:
        return next((c for c in self.containers if c.role == role), None)

    @property
    def root_container(self) -> Container:
        """The container that serves everything not routed to an API location."""
        return self.container("frontend") or self.containers[0]

    @property
    def declared_routes(self) -> tuple[tuple[str, Container | None], ...]:
        """Every (location, container) pair as declared: nginx.api_locations go to the backend (None
        without one), then each container's own. A location may appear twice; validation checks that."""
        backend = self.container("backend")
        return (tuple((location, backend) for location in self.api_locations)
                + tuple((location, c) for c in self.containers for location in c.api_locations))

    @property
    def api_routes(self) -> tuple[tuple[str, Container], ...]:
        """declared_routes with each location once."""
        seen, unique = set(), []
        for location, container in self.declared_routes:
            if location not in seen:
                seen.add(location)
                unique.append((location, container))
        return tuple(unique)

    def check_environment(self, environment: str) -> None:
        if environment not in self.environments:
            valid = ", ".join(self.environments)
            raise PlatformError(f"project {self.name!r} has no environment {environment!r}; valid: {valid}")


@dataclass(frozen=True)
class Registry:
    projects: tuple[Project, ...]
    source: str = "config/projects.yml"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(project.name for project in self.projects)

    def project(self, name: str) -> Project:
        for project in self.projects:
            if project.name == name:
                return project
        valid = ", ".join(self.names) or "none registered"
        raise PlatformError(f"{self.source}: no project {name!r}; valid: {valid}")
