"""Hypothesis strategies for config/projects.yml.

A plain module shared by the unit fuzz tests and the integration tests (which render
random accepted registries and run the real `nginx -t` on them). Put the tests/
directory on sys.path and `import strategies`.

- ``registries()``: projects.yml dicts the validator ACCEPTS (valid-looking values of
  every key and form, unique names, domains, volumes and databases across projects).
- ``mutated_registries()``: such a dict with a few keys or values replaced by arbitrary
  or hostile data; the validator must refuse it cleanly or accept it.
- ``hostile_text()``: text biased towards what would break an nginx config.
"""

import copy

from hypothesis import strategies as st

from platform_deploy.config.boundary import reserved_reason, sql_name
from platform_deploy.naming import PLATFORM_CONFIG_DIR
from platform_deploy.naming import INTERNAL_ROLES

LOWER_DIGITS = "abcdefghijklmnopqrstuvwxyz0123456789"

# Strings that try to end a directive, open a block, start a comment or a variable.
INJECTIONS = (
    ";", "{", "}", "#", "$", "'", '"', "\\", " ", "\t", "\n", "\r", "\x00", "\u2028", "\x85", "/../", "..",
    "a.com; include /etc/passwd", "/api { return 200; }", "/a$b", "/a#b", "/a'b", "/a b", "/a\\b",
    "x\n}\nserver {", "$(id)", "`id`", "{project.__doc__}", "../../etc/passwd", "/etc/passwd", "*.", "~ ^/",
    "3000; x", "true", "null", "-1", "0", "65536", "1e3", "0x50", "³", "٣", "ＡＢＣ", "é", "*", "@x", "=",
)


def _token(alphabet, min_size=1, max_size=8):
    return st.text(alphabet=alphabet, min_size=min_size, max_size=max_size)


# ^[a-z0-9]+(-[a-z0-9]+)*$, at most 3 parts of 8: always a valid project name or container role.
names = st.lists(_token(LOWER_DIGITS), min_size=1, max_size=3).map("-".join)
roles = st.one_of(st.sampled_from(["backend", "frontend", "web", "worker", "api"]),
                  names.filter(lambda name: name not in INTERNAL_ROLES))
labels = st.one_of(
    _token(LOWER_DIGITS, 1, 10),
    st.tuples(_token(LOWER_DIGITS, 1, 4), _token(LOWER_DIGITS + "-", 0, 6), _token(LOWER_DIGITS, 1, 4))
    .map("".join),
)
# Short enough for platform-nginx's server_names_hash_bucket_size. registries() ends each in `.p<n>.<tld>`, n
# the project's index: no project's wildcard then covers another's domains, and none is an IP or single label.
domains = st.tuples(st.booleans(), st.lists(labels, min_size=1, max_size=3)).map(
    lambda pair: ("*." if pair[0] else "") + ".".join(pair[1]))
tlds = st.tuples(_token("abcdefghijklmnopqrstuvwxyz", 1, 1), _token(LOWER_DIGITS, 1, 5)).map("".join)
docker_names = st.tuples(
    _token("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 1, 1),
    _token("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", 0, 20),
).map("".join)
LOCATION_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~!*+,=:@%/-"
locations = _token(LOCATION_CHARS, 1, 20).map(lambda rest: "/" + rest).filter(
    lambda loc: loc.rstrip("/") != "" and not (loc.rstrip("/") + "/").startswith("/.well-known/acme-challenge/"))
smoke_paths = _token(LOCATION_CHARS + "?&", 0, 20).map(lambda rest: "/" + rest)
ports = st.one_of(st.integers(1, 65535), st.integers(1, 65535).map(str))
env_names = st.tuples(_token("ABCDEFGHIJKLMNOPQRSTUVWXYZabc_", 1, 1),
                      _token("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", 0, 12)).map("".join)
zones = st.tuples(_token("abcdefghijklmnopqrstuvwxyz", 1, 1),
                  _token("abcdefghijklmnopqrstuvwxyz0123456789_", 0, 12)).map("".join)
rates = st.tuples(st.integers(1, 999_999), st.sampled_from("sm")).map(lambda pair: f"{pair[0]}r/{pair[1]}")
images = st.tuples(
    st.sampled_from(["", "ghcr.io/", "localhost:5000/", "registry.example.com/team/"]),
    st.lists(_token("abcdefghijklmnopqrstuvwxyz0123456789", 1, 6), min_size=1, max_size=3).map("-".join),
).map("".join)
mounts = _token("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-", 0, 20).map(lambda r: "/" + r)
env_files = st.sampled_from([   # inside config/<project>/, the only place a project's env files may be
    "config/{project}/.env.{environment}", "config/{project}/{environment}.env", "config/{project}/shared.env",
    "config/{project}/{environment}/app.env",
])
migrations = st.one_of(st.booleans(),
                       st.sampled_from(["alembic upgrade head", "python -m app.migrate", "./migrate.sh"]))
NODE_WORD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
# Swarm placement constraints, spaced around the operator or not.
constraints = st.tuples(
    st.one_of(st.sampled_from(["id", "hostname", "role", "platform.os", "platform.arch"]),
              _token(NODE_WORD, 1, 10).map(lambda key: f"labels.{key}")),
    st.sampled_from(["==", "!=", " == ", " != ", "== ", " !="]),
    _token(NODE_WORD, 1, 10),
).map(lambda parts: f"node.{parts[0]}{parts[1]}{parts[2]}")


def _string_or_list(draw, values):
    """One value alone or as a list, or several as a list: the forms the validator accepts."""
    values = list(values)
    if len(values) == 1 and draw(st.booleans()):
        return values[0]
    return values


@st.composite
def _project(draw, name, project_domains, container_names, volume_names, database_names):
    containers, free_locations = {}, draw(st.lists(locations, max_size=6, unique_by=lambda l: l.rstrip("/")))
    container_roles = draw(st.lists(roles, min_size=1, max_size=3, unique=True))
    for role, container_name in zip(container_roles, container_names):
        container = {"name": container_name, "port": draw(ports)}
        if free_locations and draw(st.booleans()):
            count = draw(st.integers(1, len(free_locations)))
            mine, free_locations = free_locations[:count], free_locations[count:]
            container["api_locations"] = _string_or_list(draw, mine)
        if draw(st.booleans()):
            container["image"] = draw(images)
        if draw(st.booleans()):
            container["smoke_paths"] = _string_or_list(draw, draw(st.lists(smoke_paths, min_size=1, max_size=3)))
        if draw(st.booleans()):
            container["health_timeout"] = draw(st.integers(1, 3600))
        if draw(st.booleans()):
            container["migrations"] = draw(migrations)
        if volume_names and draw(st.booleans()):
            container["volumes"] = {volume: draw(mounts) for volume in volume_names}
            volume_names = ()
        if draw(st.booleans()):
            container["env_file"] = draw(env_files)
        if draw(st.booleans()):   # a container with volumes runs one task
            container["replicas"] = 1 if "volumes" in container else draw(st.integers(1, 32))
        if draw(st.booleans()):
            container["placement"] = _string_or_list(draw, draw(st.lists(constraints, min_size=1, max_size=8)))
        containers[role] = container

    production, staging = project_domains
    domain_spec = {"production": _string_or_list(draw, production)}
    if staging:
        form = draw(st.sampled_from(["plain", "mapping"]))
        value = _string_or_list(draw, staging)
        domain_spec["staging"] = {"domains": value} if form == "mapping" else value
    project = {"domains": domain_spec, "containers": containers}

    nginx = {}
    if "backend" in containers and free_locations and draw(st.booleans()):
        nginx["api_locations"] = _string_or_list(draw, free_locations)
    if draw(st.booleans()):
        rate_limit = {"zone": draw(zones)}
        if draw(st.booleans()):
            rate_limit["burst"] = draw(st.integers(0, 100_000))
        if draw(st.booleans()):
            rate_limit["rate"] = draw(rates)
        nginx["rate_limit"] = rate_limit
    if nginx or draw(st.booleans()):
        project["nginx"] = nginx if nginx else {}
    if draw(st.booleans()):
        project["required_env"] = _string_or_list(draw, draw(st.lists(env_names, min_size=1, max_size=4)))
    own = sql_name(name)
    if own[0].isalpha() and not reserved_reason("role", own) and draw(st.booleans()):
        environments = ["production"] + (["staging"] if staging else [])
        # `<own>__<env>`: no project name makes `<own>_` a SQL name, so no other project's names hold these.
        database = {"type": "postgresql", "user": draw(st.sampled_from([own, f"{own}__app"])),
                    "databases": {env: f"{own}__{database_names}_{env}" for env in environments}}
        if draw(st.booleans()):
            database["container"] = "postgres-platform"   # the only one a project may name
        project["database"] = database
    return project


@st.composite
def registries(draw, min_projects=1, max_projects=4):
    """projects.yml dicts the validator accepts; render them to get random valid nginx configs."""
    project_names = draw(st.lists(names.filter(lambda name: name != PLATFORM_CONFIG_DIR),   # the platform's own
                                  min_size=min_projects, max_size=max_projects, unique=True))
    counts = [(draw(st.integers(1, 3)), draw(st.integers(0, 2))) for _ in project_names]
    # Unique once the wildcard's "*." is dropped: domains and config file names never clash.
    all_domains = draw(st.lists(domains, min_size=sum(p + s for p, s in counts),
                                max_size=sum(p + s for p, s in counts), unique_by=lambda d: d.removeprefix("*.")))
    all_containers = draw(st.lists(docker_names, min_size=3 * len(project_names), max_size=3 * len(project_names),
                                   unique_by=str.lower))
    projects = {}
    for index, (name, (production_count, staging_count)) in enumerate(zip(project_names, counts)):
        suffix = f".p{index}.{draw(tlds)}"
        production = [domain + suffix for domain in all_domains[:production_count]]
        staging = [domain + suffix for domain in all_domains[production_count:production_count + staging_count]]
        all_domains = all_domains[production_count + staging_count:]
        volumes = draw(st.lists(_token(LOWER_DIGITS, 1, 6), max_size=2, unique=True))
        projects[name] = draw(_project(
            name, (production, staging), all_containers[3 * index:3 * index + 3],
            [f"{name}-{volume}" for volume in volumes], f"db{index}"))
    return {"projects": projects}


def hostile_text():
    """Arbitrary text, biased towards nginx/shell/path metacharacters and their neighbours."""
    return st.one_of(
        st.sampled_from(INJECTIONS),
        st.text(max_size=30),
        st.tuples(st.sampled_from(["a.com", "/api", "name", "3000", "config/x"]), st.sampled_from(INJECTIONS),
                  st.text(max_size=5)).map("".join),
    )


def hostile_values():
    """Any YAML-representable value: text, numbers, booleans, None, small lists and mappings."""
    scalars = st.one_of(hostile_text(), st.integers(-10, 70_000), st.integers(), st.booleans(), st.none(),
                        st.floats(allow_nan=False))
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(hostile_text(), inner, max_size=3)), max_leaves=6)


def _paths(node, path=()):
    """Every (path, node) below the root, mappings and lists included."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, path + (index,))


@st.composite
def mutated_registries(draw, max_mutations=3):
    """A valid registry with a few values replaced, keys renamed or added by hostile data."""
    data = copy.deepcopy(draw(registries(max_projects=3)))
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = [path for path, _ in _paths(data) if path]
        path = draw(st.sampled_from(paths))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["value", "key", "add"]))
        if action == "value" or isinstance(parent, list):
            parent[path[-1]] = draw(hostile_values())
        elif action == "key":
            parent[draw(hostile_text())] = parent.pop(path[-1])
        else:
            parent[draw(hostile_text())] = draw(hostile_values())
    return data
