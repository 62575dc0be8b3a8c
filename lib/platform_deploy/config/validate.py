"""Turn the parsed YAML into a Registry, collecting every problem with its YAML path.

Every value that ends up in an nginx config, a container, network or volume
name, or a file path passes an allowlist here; nothing downstream re-checks.
"""

import difflib
import re
import string

from ..errors import ConfigError
from ..naming import DEFAULT_POSTGRES_CONTAINER, INTERNAL_ROLES
from . import boundary
from .model import (
    DEFAULT_ENV_FILE,
    DEFAULT_DRAIN_TIMEOUT,
    DEFAULT_HEALTH_TIMEOUT,
    DEFAULT_RATE,
    DEFAULT_REPLICAS,
    ENVIRONMENTS,
    Container,
    Database,
    Project,
    RateLimit,
    Registry,
)

NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
DOCKER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
DOMAIN = re.compile(rf"^(?:\*\.)?{LABEL}(?:\.{LABEL})*$")
LOCATION = re.compile(r"^/[A-Za-z0-9._~!*+,=:@%/-]*$")
SMOKE_PATH = re.compile(r"^/[A-Za-z0-9._~!*+,=:@%/?&-]*$")
IMAGE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$"
)
ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SQL_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
ZONE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
RATE = re.compile(r"^[1-9][0-9]{0,5}r/[sm]$")
MOUNT = re.compile(r"^/[A-Za-z0-9._/-]*$")
RELATIVE_FILE = re.compile(r"^[A-Za-z0-9._{}/-]+$")
# A Swarm placement constraint on one node attribute; spaces only around the operator.
PLACEMENT = re.compile(r"^node\.(?:id|hostname|role|platform\.os|platform\.arch|labels\.[A-Za-z0-9._-]+)"
                       r" *(?:==|!=) *[A-Za-z0-9._-]+$")
MAX_DOMAIN = 250   # DNS allows 253; <domain>.conf must fit a 255-byte file name
# Lengths and counts (docs/projects.reference.yml): nginx refuses a token over 4 KB and a container name is a
# DNS label in the project's network (<name>-production: at most 63 characters), so one entry must not be able
# to produce either.
MAX_PATH = 200          # an API location or smoke path
MAX_IMAGE = 255
MAX_CONTAINER = 52      # + "-production" = 63
MAX_VOLUME = 63
MAX_MOUNT = 255
MAX_COMMAND = 1000      # a migrations command
MAX_FILE = 255          # an env_file
MAX_ITEMS = 50          # domains per environment, API locations per list and per project, smoke paths
MAX_REPLICAS = 32
MAX_CONSTRAINTS = 8     # placement constraints of a container
YAML11_BOOLEANS = ("y", "yes", "n", "no", "on", "off")
ACME_PREFIX = "/.well-known/acme-challenge"
MAX_SHOWN = 60


def show(value) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def part(key) -> str:
    """A user-chosen mapping key as a YAML path part: as written when short and printable, else quoted."""
    text = key if isinstance(key, str) else str(key)
    return text if text and text.isprintable() and "/" not in text and len(text) <= MAX_SHOWN else show(key)


class Problems:
    """Collects one-line problems, each prefixed with the source file and YAML path."""

    def __init__(self, source: str):
        self.source = source
        self.lines: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.lines.append(f"{self.source}: {path}: {message}" if path else f"{self.source}: {message}")

    def mapping(self, path, value, required=(), optional=()):
        """Check ``value`` is a mapping with only known keys; return it (or None when it is not a mapping).

        ``optional=None`` accepts any key (mappings keyed by user-chosen names).
        """
        if not isinstance(value, dict):
            self.add(path, f"{show(value)} is not a mapping")
            return None
        known = tuple(required) + tuple(optional or ())
        for key in value if optional is not None else ():
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f"; known keys: {', '.join(known)}"
                self.add(path, f"unknown key {show(key)}{hint}")
        for key in required:
            if key not in value:
                self.add(path, f"missing required key {key!r}")
        return value

    def string(self, path, value, pattern, expected, longest=None):
        if not (isinstance(value, str) and pattern.fullmatch(value)):
            self.add(path, f"{show(value)} is not {expected}")
            return None
        if longest is not None and len(value) > longest:
            self.add(path, f"{show(value)} is longer than {longest} characters")
            return None
        return value

    def integer(self, path, value, low, high, expected):
        # ASCII only: str.isdigit() also accepts '³', which int() refuses.
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
        self.add(path, f"{show(value)} is not {expected}")
        return None

    def string_list(self, path, value, check, most=None):
        """A string or a list of at most ``most`` strings, each passed through ``check(path, item)``."""
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            self.add(path, f"{show(value)} is not a string or a non-empty list of strings")
            return ()
        if most is not None and len(items) > most:
            self.add(path, f"{len(items)} values; at most {most} are allowed")
            return ()
        checked = [check(f"{path}/{index}" if len(items) > 1 or not isinstance(value, str) else path, item)
                   for index, item in enumerate(items)]
        return tuple(item for item in checked if item is not None)


def _location(problems, path, value):
    if isinstance(value, str) and len(value) > 1:
        value = value.rstrip("/") or "/"
    location = problems.string(path, value, LOCATION,
                               "an absolute URL path (letters, digits and ._~!*+,=:@%/- only)", MAX_PATH)
    if location == "/":
        problems.add(path, "'/' cannot be an API location: the root container already serves it")
        return None
    if location and (location + "/").startswith(ACME_PREFIX + "/"):
        problems.add(path, f"{show(location)} is reserved for ACME certificate challenges")
        return None
    return location


def _domain(problems, path, value):
    if isinstance(value, str):
        value = value.strip().lower()
    domain = problems.string(path, value, DOMAIN, "a domain name (e.g. example.com or *.example.com)", MAX_DOMAIN)
    special = domain and _special_name(domain)
    if special:
        problems.add(path, f"{show(domain)} {special}")
        return None
    return domain


def _special_name(domain) -> str | None:
    """Why nginx must not be given ``domain`` as a server_name, or None: IP addresses and single labels
    (localhost, default) would take the platform's own traffic (its health check asks 127.0.0.1)."""
    labels = domain.removeprefix("*.").split(".")
    if domain.startswith("*.") and len(labels) == 1:
        return "is a wildcard over a top-level name: it would take every project's domains under it"
    if len(labels) == 1:
        return "is a single-label name (like localhost or default): use a full domain name"
    if all(label.isdigit() for label in labels):
        return "is an IP address: nginx would answer for the address itself; use a domain name"
    if not labels[-1][0].isalpha():
        return (f"ends in {labels[-1]!r}: a top-level name starts with a letter (IP addresses and numeric "
                "names are refused)")
    return None


def _domains(problems, path, value):
    mapping = problems.mapping(path, value, required=("production",), optional=ENVIRONMENTS[1:])
    if mapping is None:
        return ()
    result = []
    for environment in ENVIRONMENTS:
        if environment not in mapping:
            continue
        entry, entry_path = mapping[environment], f"{path}/{environment}"
        if isinstance(entry, dict):  # the original's `staging: {domains: ...}` form
            if "domains" not in problems.mapping(entry_path, entry, required=("domains",)):
                continue  # reported once, as a missing key
            entry, entry_path = entry["domains"], entry_path + "/domains"
        domains = problems.string_list(entry_path, entry, lambda p, v: _domain(problems, p, v), MAX_ITEMS)
        if domains:
            result.append((environment, domains))
    return tuple(result)


def _volumes(problems, path, value):
    mapping = problems.mapping(path, value, optional=None)
    if mapping is None:
        return ()
    volumes = []
    for name, mount in mapping.items():
        checked_name = problems.string(f"{path}/{part(name)}", name, DOCKER_NAME, "a Docker volume name", MAX_VOLUME)
        checked_mount = problems.string(f"{path}/{part(name)}", mount, MOUNT, "an absolute mount path", MAX_MOUNT)
        if checked_name and checked_mount:
            volumes.append((checked_name, checked_mount))
    return tuple(volumes)


def _migrations(problems, path, value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in YAML11_BOOLEANS:
        problems.add(path, f"{show(value)} is a YAML 1.1 boolean, read as text: write false or true")
        return True
    if isinstance(value, str) and len(value.strip()) > MAX_COMMAND:
        problems.add(path, f"{show(value)} is longer than {MAX_COMMAND} characters")
        return True
    if isinstance(value, str) and value.strip() and "\n" not in value and "\0" not in value:
        return value.strip()
    problems.add(path, f"{show(value)} is not a command (e.g. 'alembic upgrade head') or false")
    return True


def _env_file(problems, path, value):
    checked = problems.string(path, value, RELATIVE_FILE, "a file path relative to the platform root", MAX_FILE)
    if checked is None:
        return DEFAULT_ENV_FILE
    parts = checked.split("/")
    if ".." in parts or checked.startswith("/"):
        problems.add(path, f"{show(checked)} leaves the platform root")
        return DEFAULT_ENV_FILE
    try:
        # Exactly {project} / {environment}: str.format would also expand `{project.__doc__}`.
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(checked)
                  if name is not None]
    except ValueError:
        fields = [None]
    if any(field not in (("project", "", None), ("environment", "", None)) for field in fields):
        problems.add(path, f"{show(checked)} may only use the placeholders {{project}} and {{environment}}")
        return DEFAULT_ENV_FILE
    return checked


def _constraint(problems, path, value):
    checked = problems.string(path, value, PLACEMENT, "a placement constraint like 'node.labels.zone == a' "
                              "(node.id, hostname, role, platform.os, platform.arch or labels.<key>; == or !=; "
                              "letters, digits and ._- only)")
    return checked and checked.replace(" ", "")


def _swarm(problems, path, mapping, volumes) -> dict:
    """replicas and placement: how a swarm runs the container's service."""
    fields = {}
    if "replicas" in mapping:
        fields["replicas"] = problems.integer(f"{path}/replicas", mapping["replicas"], 1, MAX_REPLICAS,
                                              f"a number of replicas (1-{MAX_REPLICAS})") or DEFAULT_REPLICAS
    if fields.get("replicas", DEFAULT_REPLICAS) > 1 and volumes:
        problems.add(f"{path}/replicas", f"{fields['replicas']} with volumes; a container with volumes runs as one "
                                         "task pinned to one node (its data lives there): remove replicas or the "
                                         "volumes")
    if "placement" in mapping:
        fields["placement"] = problems.string_list(f"{path}/placement", mapping["placement"],
                                                   lambda p, v: _constraint(problems, p, v), MAX_CONSTRAINTS)
    return fields


CONTAINER_KEYS = ("name", "port", "api_locations", "image", "smoke_paths", "health_timeout", "drain_timeout",
                  "migrations", "volumes", "env_file", "replicas", "placement")


def _container(problems, path, role, value):
    if not NAME.fullmatch(str(role)):
        problems.add(path, f"{show(role)} is not a container role (lowercase letters, digits, hyphens)")
    elif role in INTERNAL_ROLES:
        problems.add(path, f"{role!r} is reserved: the platform labels its own helper containers with it; "
                           "choose another role")
    mapping = problems.mapping(path, value, required=("name", "port"), optional=CONTAINER_KEYS[2:])
    if mapping is None:
        return None
    # A missing required key is reported once, as missing: its value is checked only when present.
    fields = {
        "role": str(role),
        "name": problems.string(f"{path}/name", mapping["name"], DOCKER_NAME,
                                "a Docker container name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)", MAX_CONTAINER)
        if "name" in mapping else None,
        "port": problems.integer(f"{path}/port", mapping["port"], 1, 65535,
                                 "an integer port (1-65535)") if "port" in mapping else None,
    }
    if "api_locations" in mapping:
        fields["api_locations"] = problems.string_list(
            f"{path}/api_locations", mapping["api_locations"], lambda p, v: _location(problems, p, v), MAX_ITEMS)
    if "image" in mapping:
        image = mapping["image"]
        if isinstance(image, str) and (":" in image.rsplit("/", 1)[-1] or "@" in image):
            problems.add(f"{path}/image", f"{show(image)} has a tag or digest; give the repository only "
                                          "(the tag comes from `invoke deploy --tag`)")
        else:
            fields["image"] = problems.string(f"{path}/image", image, IMAGE,
                                              "an image repository (e.g. ghcr.io/user/app)", MAX_IMAGE)
    if "smoke_paths" in mapping:
        fields["smoke_paths"] = problems.string_list(
            f"{path}/smoke_paths", mapping["smoke_paths"],
            lambda p, v: problems.string(p, v, SMOKE_PATH, "an absolute URL path", MAX_PATH), MAX_ITEMS)
    if "health_timeout" in mapping:
        fields["health_timeout"] = problems.integer(
            f"{path}/health_timeout", mapping["health_timeout"], 1, 3600, "a number of seconds (1-3600)"
        ) or DEFAULT_HEALTH_TIMEOUT
    if "drain_timeout" in mapping:
        fields["drain_timeout"] = problems.integer(
            f"{path}/drain_timeout", mapping["drain_timeout"], 1, 3600, "a number of seconds (1-3600)"
        ) or DEFAULT_DRAIN_TIMEOUT
    if "migrations" in mapping:
        fields["migrations"] = _migrations(problems, f"{path}/migrations", mapping["migrations"])
    if "volumes" in mapping:
        fields["volumes"] = _volumes(problems, f"{path}/volumes", mapping["volumes"])
    if "env_file" in mapping:
        fields["env_file"] = _env_file(problems, f"{path}/env_file", mapping["env_file"])
    fields.update(_swarm(problems, path, mapping, fields.get("volumes")))
    if fields["name"] is None or fields["port"] is None:
        return None
    return Container(**fields)


def _rate_limit(problems, path, value):
    mapping = problems.mapping(path, value, required=("zone",), optional=("burst", "rate"))
    if mapping is None:
        return None
    zone = problems.string(f"{path}/zone", mapping["zone"], ZONE,
                           "a zone name (lowercase letters, digits, underscores)") if "zone" in mapping else None
    burst = problems.integer(f"{path}/burst", mapping.get("burst", 0), 0, 100_000, "an integer burst (0-100000)")
    rate = problems.string(f"{path}/rate", mapping.get("rate", DEFAULT_RATE), RATE,
                           "a rate like '10r/s' or '300r/m'")
    if zone is None or burst is None or rate is None:
        return None
    return RateLimit(zone=zone, burst=burst, rate=rate)


def _nginx(problems, path, value):
    mapping = problems.mapping(path, value, optional=("api_locations", "rate_limit"))
    if mapping is None:
        return (), None
    locations = ()
    if "api_locations" in mapping:
        locations = problems.string_list(f"{path}/api_locations", mapping["api_locations"],
                                         lambda p, v: _location(problems, p, v), MAX_ITEMS)
    rate_limit = _rate_limit(problems, f"{path}/rate_limit", mapping["rate_limit"]) \
        if "rate_limit" in mapping else None
    return locations, rate_limit


def _database(problems, path, value):
    mapping = problems.mapping(path, value, required=("type", "user", "databases"), optional=("container",))
    if mapping is None:
        return None
    if "type" in mapping and mapping["type"] != "postgresql":
        problems.add(f"{path}/type", f"{show(mapping.get('type'))} is not a supported database type; "
                                     "supported: 'postgresql'")
    user = problems.string(f"{path}/user", mapping["user"], SQL_NAME,
                           "a PostgreSQL role name (lowercase letters, digits, underscores)") \
        if "user" in mapping else None
    container = None
    if "container" in mapping:
        container = problems.string(f"{path}/container", mapping["container"], DOCKER_NAME,
                                    "a Docker container name")
        if container not in (None, DEFAULT_POSTGRES_CONTAINER):
            problems.add(f"{path}/container", f"{show(container)} is not the platform's PostgreSQL; remove the "
                                              "key: a project's database is always in the platform's PostgreSQL")
            container = None
    databases = []
    names = problems.mapping(f"{path}/databases", mapping["databases"], optional=ENVIRONMENTS) \
        if "databases" in mapping else None
    for environment, name in (names or {}).items():
        checked = problems.string(f"{path}/databases/{part(environment)}", name, SQL_NAME,
                                  "a database name (lowercase letters, digits, underscores)")
        if checked and environment in ENVIRONMENTS:
            databases.append((environment, checked))
    if user is None:
        return None
    return Database(type="postgresql", user=user, databases=tuple(databases), container=container)


def _check_routes(problems, path, project):
    if len(project.api_routes) > MAX_ITEMS:
        problems.add(path, f"{len(project.api_routes)} API locations; at most {MAX_ITEMS} are allowed per project")
    targets = {}
    for location, container in project.declared_routes:
        if container is None:
            problems.add(f"{path}/nginx/api_locations", "needs a container with the role 'backend' to route to")
            return
        previous = targets.setdefault(location, container.role)
        if previous != container.role:
            problems.add(path, f"location {location!r} is routed to both {previous!r} and {container.role!r}")


PROJECT_KEYS = ("domains", "containers", "nginx", "required_env", "database")


def _project(problems, path, name, value):
    if not (isinstance(name, str) and NAME.fullmatch(name) and len(name) <= 63):
        problems.add(path, f"{show(name)} is not a project name (lowercase letters, digits, hyphens)")
        name = None
    mapping = problems.mapping(path, value, required=("domains", "containers"), optional=PROJECT_KEYS[2:])
    if mapping is None:
        return None
    domains = _domains(problems, f"{path}/domains", mapping.get("domains")) if "domains" in mapping else ()
    containers = []
    raw_containers = problems.mapping(f"{path}/containers", mapping.get("containers", {}), optional=None)
    if raw_containers is not None and not raw_containers and "containers" in mapping:
        problems.add(f"{path}/containers", "at least one container is required")
    for role, spec in (raw_containers or {}).items():
        container = _container(problems, f"{path}/containers/{part(role)}", role, spec)
        if container:
            containers.append(container)
    api_locations, rate_limit = (), None
    if "nginx" in mapping:
        api_locations, rate_limit = _nginx(problems, f"{path}/nginx", mapping["nginx"])
    required_env = ()
    if "required_env" in mapping:
        required_env = problems.string_list(
            f"{path}/required_env", mapping["required_env"],
            lambda p, v: problems.string(p, v, ENV_VAR, "an environment variable name"))
    database = _database(problems, f"{path}/database", mapping["database"]) if "database" in mapping else None
    # Without a valid production domain there is no config file name: the problem is already reported.
    if name is None or "production" not in dict(domains) or not containers:
        return None
    project = Project(name=name, domains=domains, containers=tuple(containers), api_locations=api_locations,
                      rate_limit=rate_limit, required_env=required_env, database=database)
    _check_routes(problems, path, project)
    return project


SHARED_IN_A_PROJECT = ("volume", "certificate directory")


def _check_unique(problems, projects):
    """Container names, domains, config files, certificate directories, volumes, database roles and databases
    are global: none may be claimed by two projects.

    Volumes are named ``<volume>-<environment>`` with no project in the name, so two projects
    declaring the same volume would share its data; the containers of one project may share one, and its
    environments a certificate directory. Every database is in the platform's PostgreSQL (database_target
    refuses another container), so a database is its name alone.
    """
    owners = {}
    for project in projects:
        filename = project.config_filename
        claims = [("container name", c.name, c.name, f"containers/{c.role}/name") for c in project.containers]
        claims += [("domain", d, d, f"domains/{env}")
                   for env in project.environments for d in project.domains_for(env)]
        claims.append(("nginx config file", filename, filename, "domains/production"))
        claims += [("certificate directory", c, c, f"domains/{env}")
                   for env in project.environments for c in [project.domains_for(env)[0].removeprefix("*.")]]
        claims += [("volume", v, v, f"containers/{c.role}/volumes")
                   for c in project.containers for v, _ in c.volumes]
        if project.database:
            claims.append(("database role", project.database.user, project.database.user, "database/user"))
            claims += [("database", d, d, f"database/databases/{env}") for env, d in project.database.databases]
        for kind, key, value, where in claims:
            owner = owners.get((kind, key))
            if owner is None:
                owners[(kind, key)] = (project.name, where)
            elif owner == (project.name, where):
                problems.add(f"projects/{project.name}/{where}", f"{kind} {value!r} is listed twice")
            elif not (kind in SHARED_IN_A_PROJECT and owner[0] == project.name):
                problems.add(f"projects/{project.name}",
                             f"{kind} {value!r} is already used by projects/{owner[0]}/{owner[1]}")


def validate(data, source: str = "config/projects.yml") -> Registry:
    """Validate parsed YAML; raise ConfigError listing every problem, or return the Registry."""
    problems = Problems(source)
    top = problems.mapping("", data, required=("projects",)) if data is not None else None
    if data is None:
        problems.add("", "file is empty; it needs a top-level 'projects:' mapping")
    projects = []
    raw_projects = (top or {}).get("projects")
    if top is not None and "projects" in top:
        if raw_projects is None:
            raw_projects = {}
        raw_projects = problems.mapping("projects", raw_projects, optional=None)
    for name, spec in (raw_projects or {}).items():
        project = _project(problems, f"projects/{part(name)}", name, spec)
        if project:
            projects.append(project)
    _check_unique(problems, projects)
    boundary.check(problems, projects)
    if problems.lines:
        raise ConfigError(problems.lines)
    return Registry(projects=tuple(projects), source=source)
