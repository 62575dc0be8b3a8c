"""config/: projects.yml is read defensively and validated once, with one-line errors carrying the YAML path."""

import copy
import re
import time

import pytest
import yaml

from platform_deploy.config import load_registry
from platform_deploy.config.model import (
    DEFAULT_DRAIN_TIMEOUT,
    DEFAULT_ENV_FILE,
    DEFAULT_HEALTH_TIMEOUT,
    DEFAULT_RATE,
    DEFAULT_REPLICAS,
)
from platform_deploy.config.yamlsafe import MAX_EXPANDED_NODES, MAX_FILE_BYTES
from platform_deploy.errors import ConfigError, PlatformError
from seed import DEPLOYMENT_EXAMPLE, SEED_DOC

F = "config/projects.yml"


def example():
    """The DEPLOYMENT.md example as data, fresh for each modification."""
    return yaml.safe_load(DEPLOYMENT_EXAMPLE)


def with_value(path, value):
    """The example with the value at ``path`` (slash-separated keys) replaced."""
    data = example()
    *parents, last = path.split("/")
    node = data
    for key in parents:
        node = node[key]
    node[last] = value
    return data


BACKEND = "projects/filter-ical/containers/backend"


# --- the documented example and the original generator's forms ---------------------------------

@pytest.mark.skipif(not SEED_DOC.is_file(), reason="seed documentation not present")
def test_example_is_the_one_in_deployment_md():
    text = SEED_DOC.read_text(encoding="utf-8")
    section = text[text.index("## Nginx Configuration"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    assert block == DEPLOYMENT_EXAMPLE


def test_deployment_md_example_is_valid_as_written(load):
    registry = load(DEPLOYMENT_EXAMPLE)
    assert registry.names == ("filter-ical",)
    project = registry.project("filter-ical")
    assert project.environments == ("production", "staging")
    assert project.domains_for("production") == ("filter-ical.de",)
    assert project.domains_for("staging") == ("staging.filter-ical.de",)
    backend, frontend = project.containers
    assert (backend.role, backend.name, backend.port) == ("backend", "filter-ical-backend", 3000)
    assert backend.api_locations == ("/api", "/domains", "/calendars", "/admin")
    assert (frontend.role, frontend.name, frontend.port) == ("frontend", "filter-ical-frontend", 80)
    assert project.root_container is frontend
    assert [(location, c.role) for location, c in project.api_routes] == [
        ("/api", "backend"), ("/domains", "backend"), ("/calendars", "backend"), ("/admin", "backend")]
    assert backend.container_name("production") == "filter-ical-backend-production"
    assert frontend.container_name("staging") == "filter-ical-frontend-staging"
    assert project.config_filename == "filter-ical.de.conf"


def test_defaults_of_optional_keys(load):
    backend = load(DEPLOYMENT_EXAMPLE).project("filter-ical").container("backend")
    assert backend.image is None
    assert backend.smoke_paths is None          # try /health, then /
    assert backend.health_timeout == DEFAULT_HEALTH_TIMEOUT == 60
    assert backend.drain_timeout == DEFAULT_DRAIN_TIMEOUT == 10
    assert backend.migrations is True
    assert backend.volumes == ()
    assert backend.env_file == DEFAULT_ENV_FILE == "config/{project}/.env.{environment}"
    assert backend.env_file_path("filter-ical", "staging") == "config/filter-ical/.env.staging"
    assert backend.replicas == DEFAULT_REPLICAS == 1
    assert backend.placement == ()


def test_load_registry_from_disk(tmp_path):
    path = tmp_path / "projects.yml"
    path.write_text(DEPLOYMENT_EXAMPLE)
    assert load_registry(path).names == ("filter-ical",)


def test_missing_file_says_where_to_look(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_registry(tmp_path / "nope.yml")
    assert caught.value.problems == [f"{F}: not found; create it (see docs/projects.reference.yml)"]


def test_original_generator_forms(load):
    registry = load("""
projects:
  shop:
    domains:
      production: [shop.example.com, www.shop.example.com]
      staging:
        domains: [staging.shop.example.com, preview.shop.example.com]
    containers:
      backend: {name: shop-api, port: 8000}
      frontend: {name: shop-web, port: 80}
    nginx:
      api_locations: ["/api/", "/auth"]
      rate_limit: {zone: api, burst: 20}
  blog:
    domains:
      production: blog.example.com
      staging: {domains: staging.blog.example.com}
    containers:
      web: {name: blog, port: "8080"}
""")
    shop, blog = registry.projects
    assert shop.domains == (("production", ("shop.example.com", "www.shop.example.com")),
                            ("staging", ("staging.shop.example.com", "preview.shop.example.com")))
    assert shop.api_locations == ("/api", "/auth")          # trailing slash dropped
    assert [(loc, c.name) for loc, c in shop.api_routes] == [("/api", "shop-api"), ("/auth", "shop-api")]
    assert (shop.rate_limit.zone, shop.rate_limit.burst, shop.rate_limit.rate) == ("api", 20, DEFAULT_RATE)
    assert blog.domains == (("production", ("blog.example.com",)), ("staging", ("staging.blog.example.com",)))
    assert blog.containers[0].port == 8080                  # a digit string is a port
    assert blog.root_container.name == "blog"               # no frontend: the first container serves /


def test_production_only_project(load):
    project = load(with_value("projects/filter-ical/domains", {"production": "filter-ical.de"})).projects[0]
    assert project.environments == ("production",)
    with pytest.raises(PlatformError, match="no environment 'staging'; valid: production"):
        project.check_environment("staging")


def test_domains_are_normalised_to_lower_case(load):
    project = load(with_value("projects/filter-ical/domains/production", " Filter-ICAL.de ")).projects[0]
    assert project.domains_for("production") == ("filter-ical.de",)


def test_merge_keys_work(load):
    registry = load("""
projects:
  filter-ical:
    domains: {production: filter-ical.de}
    containers:
      backend: &defaults {name: filter-ical-backend, port: 3000, health_timeout: 30}
      worker:
        <<: *defaults
        name: filter-ical-worker
""")
    worker = registry.projects[0].container("worker")
    assert (worker.name, worker.port, worker.health_timeout) == ("filter-ical-worker", 3000, 30)


def test_unknown_project_lists_valid_ones(load):
    with pytest.raises(PlatformError) as caught:
        load(DEPLOYMENT_EXAMPLE).project("filter-ics")
    assert str(caught.value) == f"{F}: no project 'filter-ics'; valid: filter-ical"


def test_empty_projects_mapping_is_an_empty_registry(load):
    assert load("projects:\n").projects == ()


# --- exact one-line messages --------------------------------------------------------------------

def test_port_injection_message(refused):
    assert refused(with_value(f"{BACKEND}/port", "3000; x")) == [
        f"{F}: {BACKEND}/port: '3000; x' is not an integer port (1-65535)"]


def test_boolean_port_is_refused(refused):
    assert refused(with_value(f"{BACKEND}/port", True)) == [
        f"{F}: {BACKEND}/port: True is not an integer port (1-65535)"]


def test_unknown_key_with_did_you_mean(refused):
    data = example()
    backend = data["projects"]["filter-ical"]["containers"]["backend"]
    backend["prot"] = backend.pop("port")
    assert refused(data) == [
        f"{F}: {BACKEND}: unknown key 'prot' (did you mean 'port'?)",
        f"{F}: {BACKEND}: missing required key 'port'",
    ]


def test_unknown_key_without_a_close_match_lists_known_keys(refused):
    assert refused(with_value("projects/filter-ical/zzz", 1)) == [
        f"{F}: projects/filter-ical: unknown key 'zzz'; known keys: domains, containers, nginx, required_env, "
        "database"]


def test_unknown_top_level_key(refused):
    data = example()
    data["project"] = {}
    assert refused(data) == [f"{F}: unknown key 'project' (did you mean 'projects'?)"]


def test_all_problems_of_a_file_are_reported_together(refused):
    problems = refused("""
projects:
  filter-ical:
    domains:
      production: "filter-ical.de; include /etc/passwd"
      stagign: staging.filter-ical.de
    containers:
      backend:
        name: filter-ical-backend
        port: 70000
        api_locations: ["/api", "/a b"]
      frontend:
        name: "bad name"
        port: 80
    required_env: ["OK", "NOT-OK"]
  Second:
    domains: {production: second.example.com}
    containers: {web: {name: second, port: 1}}
""")
    assert problems == [
        f"{F}: projects/filter-ical/domains: unknown key 'stagign' (did you mean 'staging'?)",
        f"{F}: projects/filter-ical/domains/production: 'filter-ical.de; include /etc/passwd' is not a domain "
        "name (e.g. example.com or *.example.com)",
        f"{F}: {BACKEND}/port: 70000 is not an integer port (1-65535)",
        f"{F}: {BACKEND}/api_locations/1: '/a b' is not an absolute URL path (letters, digits and "
        "._~!*+,=:@%/- only)",
        f"{F}: projects/filter-ical/containers/frontend/name: 'bad name' is not a Docker container name "
        "([a-zA-Z0-9][a-zA-Z0-9_.-]*)",
        f"{F}: projects/filter-ical/required_env/1: 'NOT-OK' is not an environment variable name",
        f"{F}: projects/Second: 'Second' is not a project name (lowercase letters, digits, hyphens)",
    ]
    assert all("\n" not in line for line in problems)


def test_missing_required_keys(refused):
    assert refused("projects:\n  p: {}\n") == [
        f"{F}: projects/p: missing required key 'domains'",
        f"{F}: projects/p: missing required key 'containers'",
    ]


def test_empty_containers(refused):
    assert refused(with_value("projects/filter-ical/containers", {})) == [
        f"{F}: projects/filter-ical/containers: at least one container is required"]


def test_keys_that_are_not_printable_are_quoted_in_the_path(refused):
    problems = refused('projects:\n  "p\\nq": {domains: {production: a.com}, containers: {b: {name: x, port: 1}}}\n')
    assert problems == [f"{F}: projects/'p\\nq': 'p\\nq' is not a project name (lowercase letters, digits, hyphens)"]


@pytest.mark.parametrize("name", ["p\n", "-p", "p-", "p--q", "P", "p_q", "p.q", "a" * 64, ""])
def test_bad_project_names(refused, name):
    data = {"projects": {name: example()["projects"]["filter-ical"]}}
    problems = refused(data)
    assert len(problems) == 1 and problems[0].endswith("is not a project name (lowercase letters, digits, hyphens)")


# --- YAML reading ---------------------------------------------------------------------------------

def test_duplicate_yaml_keys(refused):
    text = DEPLOYMENT_EXAMPLE.replace("        port: 80\n", "        port: 80\n        port: 8080\n")
    assert refused(text) == [f"{F}: line 14: duplicate key 'port'"]


def test_duplicate_project(refused):
    assert refused(DEPLOYMENT_EXAMPLE + DEPLOYMENT_EXAMPLE.replace("projects:\n", "")) == [
        f"{F}: line 14: duplicate key 'filter-ical'"]


def test_python_tags_are_refused_and_never_run(refused, tmp_path):
    marker = tmp_path / "pwned"
    problems = refused(f'projects: !!python/object/apply:os.system ["touch {marker}"]\n')
    assert problems == [f"{F}: line 1, column 11: could not determine a constructor for the tag "
                        "'tag:yaml.org,2002:python/object/apply:os.system'"]
    assert not marker.exists()


@pytest.mark.parametrize("tag", ["!!python/name:os.system", "!!python/module:os", "!!python/object:object {}"])
def test_other_python_tags(refused, tag):
    problems = refused(f"projects: {tag}\n")
    assert len(problems) == 1 and "could not determine a constructor" in problems[0]


def test_alias_bomb_is_refused_quickly(refused):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for index in range(1, 9):
        lines.append(f"{chr(97 + index)}: &{chr(97 + index)} [" + ",".join([f"*{chr(96 + index)}"] * 9) + "]")
    started = time.monotonic()
    problems = refused("\n".join(lines) + "\n")
    assert time.monotonic() - started < 2
    assert problems == [f"{F}: aliases expand to more than {MAX_EXPANDED_NODES} nodes; refusing"]


def test_recursive_alias_is_refused(refused):
    assert refused("projects: &a [*a]\n") == [
        f"{F}: aliases expand to more than {MAX_EXPANDED_NODES} nodes; refusing"]


def test_file_over_the_size_limit(refused, tmp_path):
    data = DEPLOYMENT_EXAMPLE.encode() + b"#" * MAX_FILE_BYTES
    assert refused(data) == [f"{F}: file is {len(data)} bytes, over the {MAX_FILE_BYTES} byte limit"]
    path = tmp_path / "projects.yml"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match="over the 1048576 byte limit"):
        load_registry(path)


def test_file_at_the_size_limit_is_read(load):
    data = DEPLOYMENT_EXAMPLE.encode()
    data += b"#" * (MAX_FILE_BYTES - len(data))
    assert load(data).names == ("filter-ical",)


def test_invalid_utf8(refused):
    data = DEPLOYMENT_EXAMPLE.replace("filter-ical.de", "filter-ical.d\udcff", 1).encode("utf-8", "surrogateescape")
    position = data.index(b"\xff")
    assert refused(data) == [f"{F}: not valid UTF-8 at byte {position}"]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "~\n"])
def test_empty_file(refused, text):
    assert refused(text) == [f"{F}: file is empty; it needs a top-level 'projects:' mapping"]


@pytest.mark.parametrize("text, message", [
    ("- a\n- b\n", "['a', 'b'] is not a mapping"),
    ("projects: [a]\n", "projects: ['a'] is not a mapping"),
    ("projects:\n  p: [a]\n", "projects/p: ['a'] is not a mapping"),
])
def test_wrong_shapes(refused, text, message):
    assert refused(text) == [f"{F}: {message}"]


def test_yaml_syntax_error_is_one_line(refused):
    problems = refused("projects:\n  p: {a: 1\n")
    assert len(problems) == 1 and problems[0].startswith(f"{F}: line ") and "\n" not in problems[0]


def test_two_documents_are_refused(refused):
    assert refused(DEPLOYMENT_EXAMPLE + "---\nprojects: {}\n") == [
        f"{F}: line 14, column 1: but found another document"]


@pytest.mark.parametrize("text, message", [
    ("projects: 2001-13-45\n", "line 1, column 11: '2001-13-45' is not a valid timestamp"),
    ("projects: !!timestamp x\n", "line 1, column 11: 'x' is not a valid timestamp"),
    ("projects: !!int x\n", "line 1, column 11: 'x' is not a valid int"),
    ("projects: !!float x\n", "line 1, column 11: 'x' is not a valid float"),
])
def test_malformed_scalars_are_yaml_errors_not_crashes(refused, text, message):
    assert refused(text) == [f"{F}: {message}"]


def test_huge_integer_is_an_error_not_a_crash(refused):
    problems = refused(f"projects:\n  p:\n    port: {'9' * 5000}\n")
    assert problems == [f"{F}: line 3, column 11: '{'9' * 56}... is not a valid int"]


def test_deep_nesting_is_refused(refused):
    problems = refused("projects: " + "[" * 5000 + "]" * 5000 + "\n")
    assert len(problems) == 1 and problems[0].startswith(f"{F}: ")


# --- injection attempts: every value that reaches nginx, Docker or a path is allowlisted --------

DOMAIN_MSG = "is not a domain name (e.g. example.com or *.example.com)"
LOCATION_MSG = "is not an absolute URL path (letters, digits and ._~!*+,=:@%/- only)"


@pytest.mark.parametrize("domain", [
    "a.com; include /etc/passwd", "a.com;", "a.com {", "a.com}", "a.com #x", "$host", "a.com\nb.com",
    "a'b.com", 'a"b.com', "a b.com", "a\\b.com", "-a.com", "a-.com", "a..com", ".a.com", "a.com.", "*.*.a.com",
    "a*.com", "_.a.com", "~^(.*)$", "münchen.de", "a" * 64 + ".com", "",
])
def test_domain_injection(refused, domain):
    problems = refused(with_value("projects/filter-ical/domains/production", domain))
    shown = repr(domain.strip().lower())
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    assert problems == [f"{F}: projects/filter-ical/domains/production: {shown} {DOMAIN_MSG}"]


@pytest.mark.parametrize("domain, message", [
    (1, ": 1 is not a string or a non-empty list of strings"),
    (None, ": None is not a string or a non-empty list of strings"),
    ([], ": [] is not a string or a non-empty list of strings"),
    ([["a.com"]], f"/0: ['a.com'] {DOMAIN_MSG}"),
    ({"domains": ["a.com", "x;y"]}, f"/domains/1: 'x;y' {DOMAIN_MSG}"),
    ({"a": 1}, ": unknown key 'a'; known keys: domains"),
])
def test_domain_of_the_wrong_shape(refused, domain, message):
    problems = refused(with_value("projects/filter-ical/domains/staging", domain))
    assert problems[0] == f"{F}: projects/filter-ical/domains/staging{message}"


def test_domain_over_250_characters(refused):
    domain = ".".join(["a" * 63] * 3 + ["b" * 59])  # 251 characters of valid labels
    assert refused(with_value("projects/filter-ical/domains/staging", domain)) == [
        f"{F}: projects/filter-ical/domains/staging: '{domain[:56]}... is longer than 250 characters"]


@pytest.mark.parametrize("location", [
    "/api { return 200; }", "/a$b", "/a#b", "/a'b", '/a"b', "/a b", "/a\\b", "/a;b", "/a{b", "/a}b", "/a\nb",
    "/api\n", "/a\tb", "api", "", "~ ^/api", "= /api", "@fallback", "/a?b", "/a&b", "/ä", 3, None, True,
])
def test_location_injection(refused, location):
    problems = refused(with_value(f"{BACKEND}/api_locations", ["/ok", location]))
    assert problems == [f"{F}: {BACKEND}/api_locations/1: {location!r} {LOCATION_MSG}"]


@pytest.mark.parametrize("location", ["/", "//", "/.well-known/acme-challenge", "/.well-known/acme-challenge/x"])
def test_reserved_locations(refused, location):
    problems = refused(with_value(f"{BACKEND}/api_locations", location))
    assert len(problems) == 1 and problems[0].startswith(f"{F}: {BACKEND}/api_locations: ")
    assert "cannot be an API location" in problems[0] or "reserved for ACME certificate challenges" in problems[0]


def test_nginx_api_locations_are_checked_too(refused):
    data = with_value("projects/filter-ical/nginx", {"api_locations": ["/x;y"]})
    assert refused(data) == [f"{F}: projects/filter-ical/nginx/api_locations/0: '/x;y' {LOCATION_MSG}"]


@pytest.mark.parametrize("name", [
    "x; rm -rf /", "x y", "x/y", "-x", ".x", "_x", "x\n", "x:1", "x$y", "x{y}", "", "é", 12, None,
])
def test_container_name_injection(refused, name):
    assert refused(with_value(f"{BACKEND}/name", name)) == [
        f"{F}: {BACKEND}/name: {name!r} is not a Docker container name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)"]


@pytest.mark.parametrize("port", ["3000; x", "3000 ", " 3000", "+3000", "-1", "3e3", "0x50", "³", "٣", "9" * 30,
                                  0, -1, 65536, 3000.5, True, False, None, [3000]])
def test_port_injection(refused, port):
    assert refused(with_value(f"{BACKEND}/port", port)) == [
        f"{F}: {BACKEND}/port: {port!r} is not an integer port (1-65535)"]


@pytest.mark.parametrize("port, value", [(1, 1), (65535, 65535), ("80", 80), ("0443", 443)])
def test_valid_ports(load, port, value):
    assert load(with_value(f"{BACKEND}/port", port)).projects[0].container("backend").port == value


@pytest.mark.parametrize("image", ["ghcr.io/user/app", "localhost:5000/app", "app", "registry.example.com/a/b/c",
                                   "my_app", "my.app-x"])
def test_valid_images(load, image):
    assert load(with_value(f"{BACKEND}/image", image)).projects[0].container("backend").image == image


@pytest.mark.parametrize("image", ["app:latest", "ghcr.io/user/app:1.2", "app@sha256:abc123"])
def test_image_with_tag_or_digest(refused, image):
    assert refused(with_value(f"{BACKEND}/image", image)) == [
        f"{F}: {BACKEND}/image: {image!r} has a tag or digest; give the repository only "
        "(the tag comes from `invoke deploy --tag`)"]


@pytest.mark.parametrize("image", ["App", "a b", "app;x", "app\n", "/app", "app/", "a//b", "$(id)", "", 5, None])
def test_image_injection(refused, image):
    assert refused(with_value(f"{BACKEND}/image", image)) == [
        f"{F}: {BACKEND}/image: {image!r} is not an image repository (e.g. ghcr.io/user/app)"]


@pytest.mark.parametrize("env_file, message", [
    ("../../etc/passwd", "'../../etc/passwd' leaves the platform root"),
    ("config/../../x", "'config/../../x' leaves the platform root"),
    ("/etc/passwd", "'/etc/passwd' leaves the platform root"),
    ("{project.__doc__}", "'{project.__doc__}' may only use the placeholders {project} and {environment}"),
    ("{project.__class__}", "'{project.__class__}' may only use the placeholders {project} and {environment}"),
    ("{0}", "'{0}' may only use the placeholders {project} and {environment}"),
    ("{}", "'{}' may only use the placeholders {project} and {environment}"),
    ("{home}/x", "'{home}/x' may only use the placeholders {project} and {environment}"),
    ("{project", "'{project' may only use the placeholders {project} and {environment}"),
    ("a b", "'a b' is not a file path relative to the platform root"),
    ("a\n", "'a\\n' is not a file path relative to the platform root"),
    ("~/x", "'~/x' is not a file path relative to the platform root"),
    ("$HOME/x", "'$HOME/x' is not a file path relative to the platform root"),
    ("", "'' is not a file path relative to the platform root"),
])
def test_env_file_traversal_and_injection(refused, env_file, message):
    assert refused(with_value(f"{BACKEND}/env_file", env_file)) == [f"{F}: {BACKEND}/env_file: {message}"]


def test_env_file_placeholders(load):
    data = with_value(f"{BACKEND}/env_file", "config/{project}/{environment}/app.env")
    backend = load(data).projects[0].containers[0]
    assert backend.env_file_path("filter-ical", "production") == "config/filter-ical/production/app.env"


@pytest.mark.parametrize("volumes, message", [
    ({"../x": "/data"}, "volumes/'../x': '../x' is not a Docker volume name"),  # a '/' in a key is quoted
    ({"a b": "/data"}, "volumes/a b: 'a b' is not a Docker volume name"),
    ({"a;b": "/data"}, "volumes/a;b: 'a;b' is not a Docker volume name"),
    ({"data": "relative"}, "volumes/data: 'relative' is not an absolute mount path"),
    ({"data": "/a b"}, "volumes/data: '/a b' is not an absolute mount path"),
    ({"data": "/a:ro"}, "volumes/data: '/a:ro' is not an absolute mount path"),
    ({"data": "/a\n"}, "volumes/data: '/a\\n' is not an absolute mount path"),
    ({"data": None}, "volumes/data: None is not an absolute mount path"),
    (["data"], "volumes: ['data'] is not a mapping"),
])
def test_volume_injection(refused, volumes, message):
    assert refused(with_value(f"{BACKEND}/volumes", volumes)) == [f"{F}: {BACKEND}/{message}"]


@pytest.mark.parametrize("key, value, message", [
    ("smoke_paths", "health", "smoke_paths: 'health' is not an absolute URL path"),
    ("smoke_paths", ["/ok", "/a b"], "smoke_paths/1: '/a b' is not an absolute URL path"),
    ("smoke_paths", [], "smoke_paths: [] is not a string or a non-empty list of strings"),
    ("health_timeout", 0, "health_timeout: 0 is not a number of seconds (1-3600)"),
    ("health_timeout", 3601, "health_timeout: 3601 is not a number of seconds (1-3600)"),
    ("health_timeout", "1m", "health_timeout: '1m' is not a number of seconds (1-3600)"),
    ("drain_timeout", 0, "drain_timeout: 0 is not a number of seconds (1-3600)"),
    ("drain_timeout", "soon", "drain_timeout: 'soon' is not a number of seconds (1-3600)"),
    ("migrations", "a\nb", "migrations: 'a\\nb' is not a command (e.g. 'alembic upgrade head') or false"),
    ("migrations", "  ", "migrations: '  ' is not a command (e.g. 'alembic upgrade head') or false"),
    ("migrations", 1, "migrations: 1 is not a command (e.g. 'alembic upgrade head') or false"),
])
def test_other_container_values(refused, key, value, message):
    assert refused(with_value(f"{BACKEND}/{key}", value)) == [f"{F}: {BACKEND}/{message}"]


def test_container_values_accepted(load):
    data = example()
    data["projects"]["filter-ical"]["containers"]["backend"].update(
        smoke_paths="/health?deep=1&x=2", health_timeout="120", drain_timeout=45, migrations=" alembic upgrade head ",
        volumes={"filter-ical-data": "/app/data"})
    backend = load(data).projects[0].container("backend")
    assert backend.smoke_paths == ("/health?deep=1&x=2",)
    assert backend.health_timeout == 120 and backend.drain_timeout == 45
    assert backend.migrations == "alembic upgrade head"
    assert backend.volumes == (("filter-ical-data", "/app/data"),)


# --- replicas and placement (how a swarm runs a container) ----------------------------------------

@pytest.mark.parametrize("replicas, value", [(1, 1), (3, 3), (32, 32), ("8", 8)])
def test_replicas_accepted(load, replicas, value):
    assert load(with_value(f"{BACKEND}/replicas", replicas)).projects[0].container("backend").replicas == value


@pytest.mark.parametrize("replicas", [0, 33, -1, 1.5, "3x", "three", True, None, [2]])
def test_replicas_refused(refused, replicas):
    assert refused(with_value(f"{BACKEND}/replicas", replicas)) == [
        f"{F}: {BACKEND}/replicas: {replicas!r} is not a number of replicas (1-32)"]


@pytest.mark.parametrize("placement, value", [
    ("node.role == manager", ("node.role==manager",)),
    (["node.labels.zone==a", "node.hostname != n-1.example"], ("node.labels.zone==a", "node.hostname!=n-1.example")),
    (["node.id==abc123", "node.platform.os== linux", "node.platform.arch !=x86_64"],
     ("node.id==abc123", "node.platform.os==linux", "node.platform.arch!=x86_64")),
    (["node.labels.platform.edge == true", "node.labels.My_Key-2 == V.1"],
     ("node.labels.platform.edge==true", "node.labels.My_Key-2==V.1")),
    (["node.role==worker"] * 8, ("node.role==worker",) * 8),
])
def test_placement_accepted_and_written_without_spaces(load, placement, value):
    assert load(with_value(f"{BACKEND}/placement", placement)).projects[0].container("backend").placement == value


CONSTRAINT = ("is not a placement constraint like 'node.labels.zone == a' (node.id, hostname, role, platform.os, "
              "platform.arch or labels.<key>; == or !=; letters, digits and ._- only)")


@pytest.mark.parametrize("constraint", [
    "node.zone==a", "node.labels==a", "node.labels.==a", "labels.zone==a", "engine.labels.zone==a", "node.role=a",
    "node.role = = a", "node.role<>a", "node.role==", "node.role==a b", "node.role==a;b", "node.role==\"a\"",
    " node.role==a", "node.role==a ", "node.role\t==a", "node.role==a\n", "node.labels.zöne==a", "node.role==ä",
    "node.role==a,node.id==b", "", 5, None,
])
def test_bad_placement_constraints(refused, constraint):
    assert refused(with_value(f"{BACKEND}/placement", [constraint])) == [
        f"{F}: {BACKEND}/placement/0: {constraint!r} {CONSTRAINT}"]


@pytest.mark.parametrize("placement, message", [
    (["node.role==worker"] * 9, "placement: 9 values; at most 8 are allowed"),
    ([], "placement: [] is not a string or a non-empty list of strings"),
    ({"node.role": "worker"}, "placement: {'node.role': 'worker'} is not a string or a non-empty list of strings"),
])
def test_placement_lists(refused, placement, message):
    assert refused(with_value(f"{BACKEND}/placement", placement)) == [f"{F}: {BACKEND}/{message}"]


def test_a_container_with_volumes_runs_one_task(load, refused):
    data = with_value(f"{BACKEND}/volumes", {"filter-ical-data": "/app/data"})
    data["projects"]["filter-ical"]["containers"]["backend"].update(replicas=3, placement="node.labels.zone==a")
    assert refused(data) == [
        f"{F}: {BACKEND}/replicas: 3 with volumes; a container with volumes runs as one task pinned to one node "
        "(its data lives there): remove replicas or the volumes"]
    data["projects"]["filter-ical"]["containers"]["backend"]["replicas"] = 1   # pinned by its placement: fine
    backend = load(data).projects[0].container("backend")
    assert (backend.replicas, backend.placement) == (1, ("node.labels.zone==a",))


@pytest.mark.parametrize("role", ["Backend", "back end", "back_end", "-x"])
def test_bad_roles(refused, role):
    data = example()
    containers = data["projects"]["filter-ical"]["containers"]
    containers[role] = containers.pop("frontend")
    assert refused(data) == [f"{F}: projects/filter-ical/containers/{role}: {role!r} is not a container role "
                             "(lowercase letters, digits, hyphens)"]


@pytest.mark.parametrize("rate_limit, message", [
    ({"burst": 5}, "rate_limit: missing required key 'zone'"),
    ({"zone": "Api"}, "rate_limit/zone: 'Api' is not a zone name (lowercase letters, digits, underscores)"),
    ({"zone": "api; x"}, "rate_limit/zone: 'api; x' is not a zone name (lowercase letters, digits, underscores)"),
    ({"zone": "api", "burst": -1}, "rate_limit/burst: -1 is not an integer burst (0-100000)"),
    ({"zone": "api", "rate": "10r/h"}, "rate_limit/rate: '10r/h' is not a rate like '10r/s' or '300r/m'"),
    ({"zone": "api", "rate": "0r/s"}, "rate_limit/rate: '0r/s' is not a rate like '10r/s' or '300r/m'"),
    ({"zone": "api", "rate": "10r/s;"}, "rate_limit/rate: '10r/s;' is not a rate like '10r/s' or '300r/m'"),
    ({"zone": "api", "brust": 5}, "rate_limit: unknown key 'brust' (did you mean 'burst'?)"),
])
def test_rate_limit(refused, rate_limit, message):
    assert refused(with_value("projects/filter-ical/nginx", {"rate_limit": rate_limit})) == [
        f"{F}: projects/filter-ical/nginx/{message}"]


@pytest.mark.parametrize("names", [["DATABASE_URL", "SECRET_KEY"], "DATABASE_URL", ["_x", "a1"]])
def test_required_env_accepted(load, names):
    project = load(with_value("projects/filter-ical/required_env", names)).projects[0]
    assert project.required_env == (tuple(names) if isinstance(names, list) else (names,))


@pytest.mark.parametrize("name", ["1X", "A-B", "A B", "A;B", "A=1", "$A", ""])
def test_required_env_refused(refused, name):
    assert refused(with_value("projects/filter-ical/required_env", [name])) == [
        f"{F}: projects/filter-ical/required_env/0: {name!r} is not an environment variable name"]


DATABASE = {"type": "postgresql", "user": "filter_ical",
            "databases": {"production": "filter_ical", "staging": "filter_ical_staging"}}


def test_database_accepted(load):
    database = load(with_value("projects/filter-ical/database", DATABASE)).projects[0].database
    assert (database.type, database.user, database.container) == ("postgresql", "filter_ical", None)
    assert database.database_for("staging") == "filter_ical_staging"


@pytest.mark.parametrize("change, message", [
    ({"type": "mysql"}, "database/type: 'mysql' is not a supported database type; supported: 'postgresql'"),
    ({"user": "Bob"}, "database/user: 'Bob' is not a PostgreSQL role name (lowercase letters, digits, "
                      "underscores)"),
    ({"user": "x; DROP TABLE y"}, "database/user: 'x; DROP TABLE y' is not a PostgreSQL role name (lowercase "
                                  "letters, digits, underscores)"),
    ({"container": "a b"}, "database/container: 'a b' is not a Docker container name"),
    ({"databases": {"production": "a-b"}}, "database/databases/production: 'a-b' is not a database name "
                                           "(lowercase letters, digits, underscores)"),
    ({"databases": {"production": "x", "test": "y"}}, "database/databases: unknown key 'test'; known keys: "
                                                      "production, staging"),
])
def test_database_refused(refused, change, message):
    database = {**copy.deepcopy(DATABASE), **change}
    problems = refused(with_value("projects/filter-ical/database", database))
    assert problems[0] == f"{F}: projects/filter-ical/{message}"


# --- claims that must be unique across the registry ------------------------------------------------

def second_project(**changes):
    project = {"domains": {"production": "other.example.com", "staging": "staging.other.example.com"},
               "containers": {"backend": {"name": "other-backend", "port": 3000}}}
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = project
        for key in parents:
            node = node[key]
        node[last] = value
    data = example()
    data["projects"]["other"] = project
    return data


def test_container_name_used_by_two_projects(refused):
    assert refused(second_project(containers__backend__name="filter-ical-frontend")) == [
        f"{F}: projects/other: container name 'filter-ical-frontend' is already used by "
        "projects/filter-ical/containers/frontend/name"]


def test_container_name_used_twice_in_one_project_in_either_order(refused):
    # Roles that are prefixes of one another ("back", "backend") must not hide the clash.
    for first, second in (("back", "backend"), ("backend", "back")):
        data = {"projects": {"p": {"domains": {"production": "p.example.com"},
                                   "containers": {first: {"name": "x", "port": 1}, second: {"name": "x", "port": 2}}}}}
        assert refused(data) == [f"{F}: projects/p: container name 'x' is already used by "
                                 f"projects/p/containers/{first}/name"]


def test_domain_used_by_two_projects(refused):
    assert refused(second_project(domains__staging="FILTER-ICAL.de")) == [
        f"{F}: projects/other: domain 'filter-ical.de' is already used by projects/filter-ical/domains/production",
        f"{F}: projects/other: certificate directory 'filter-ical.de' is already used by "
        "projects/filter-ical/domains/production"]


def test_domain_in_both_environments_of_one_project(refused):
    assert refused(with_value("projects/filter-ical/domains/staging", "filter-ical.de")) == [
        f"{F}: projects/filter-ical: domain 'filter-ical.de' is already used by "
        "projects/filter-ical/domains/production"]


def test_domain_listed_twice(refused):
    assert refused(with_value("projects/filter-ical/domains/production", ["filter-ical.de", "filter-ical.de"])) == [
        f"{F}: projects/filter-ical/domains/production: domain 'filter-ical.de' is listed twice"]


def test_two_projects_cannot_share_a_config_file(refused):
    # "*.filter-ical.de" and "filter-ical.de" are different domains but would both write filter-ical.de.conf
    # (and use one certificate directory; the wildcard also covers the other project's domains).
    assert refused(second_project(domains__production="*.filter-ical.de")) == [
        f"{F}: projects/other: nginx config file 'filter-ical.de.conf' is already used by "
        "projects/filter-ical/domains/production",
        f"{F}: projects/other: certificate directory 'filter-ical.de' is already used by "
        "projects/filter-ical/domains/production",
        f"{F}: projects/other/domains/production: '*.filter-ical.de' covers 'filter-ical.de' of "
        "projects/filter-ical/domains/production; a wildcard may cover only its own project's domains",
        f"{F}: projects/other/domains/production: '*.filter-ical.de' covers 'staging.filter-ical.de' of "
        "projects/filter-ical/domains/staging; a wildcard may cover only its own project's domains"]


def test_volume_shared_between_projects_is_refused(refused):
    data = with_value(f"{BACKEND}/volumes", {"filter-ical-data": "/data"})
    data["projects"]["other"] = second_project(
        containers__backend__volumes={"filter-ical-data": "/srv"})["projects"]["other"]
    assert refused(data) == [
        f"{F}: projects/other: volume 'filter-ical-data' is already used by "
        "projects/filter-ical/containers/backend/volumes",
        f"{F}: projects/other/containers/backend/volumes: 'filter-ical-data' is in the names of "
        "projects/filter-ical; name it 'other-<anything>' outside them"]


@pytest.mark.parametrize("volume, where", [
    ("data", "is not named after this project"),                          # a bare name: whose?
    ("postgres-platform-data", "is not named after this project"),       # the platform's
    ("shop-eu-data", "is in the names of projects/shop-eu"),             # a longer project's
])
def test_a_volume_is_named_after_its_project(refused, volume, where):
    data = example()
    data["projects"]["shop"] = {"domains": {"production": "shop.example"},
                                "containers": {"backend": {"name": "shop-backend", "port": 80,
                                                           "volumes": {volume: "/srv"}}}}
    data["projects"]["shop-eu"] = {"domains": {"production": "eu.shop.example"},
                                   "containers": {"web": {"name": "shop-eu-web", "port": 80}}}
    assert refused(data) == [f"{F}: projects/shop/containers/backend/volumes: {volume!r} {where}; name it "
                             f"'shop-<anything>'" + (" outside them" if "names of" in where else "")]


def test_volume_shared_within_a_project_is_allowed(load):
    data = with_value(f"{BACKEND}/volumes", {"filter-ical-uploads": "/app/uploads"})
    data["projects"]["filter-ical"]["containers"]["frontend"]["volumes"] = {
        "filter-ical-uploads": "/usr/share/nginx/uploads"}
    assert load(data).projects[0].container("frontend").volumes == (
        ("filter-ical-uploads", "/usr/share/nginx/uploads"),)


def test_database_shared_between_environments_is_refused(refused):
    database = {**DATABASE, "databases": {"production": "filter_ical_app", "staging": "filter_ical_app"}}
    assert refused(with_value("projects/filter-ical/database", database)) == [
        f"{F}: projects/filter-ical: database 'filter_ical_app' is already used by "
        "projects/filter-ical/database/databases/production"]


def test_database_shared_between_projects_is_refused(refused):
    data = with_value("projects/filter-ical/database", DATABASE)
    data["projects"]["other"] = second_project(database={**DATABASE, "user": "other"})["projects"]["other"]
    problems = refused(data)
    outside = "is in the names of projects/filter-ical; name it 'other' or 'other_<anything>' outside them"
    assert problems == [
        f"{F}: projects/other: database 'filter_ical' is already used by "
        "projects/filter-ical/database/databases/production",
        f"{F}: projects/other: database 'filter_ical_staging' is already used by "
        "projects/filter-ical/database/databases/staging",
        f"{F}: projects/other/database/databases/production: 'filter_ical' {outside}",
        f"{F}: projects/other/database/databases/staging: 'filter_ical_staging' {outside}",
    ]


def test_same_database_name_in_a_named_container_is_still_the_same_database(refused):
    # A project may use only the platform's PostgreSQL (Project.database_target refuses any other container),
    # so naming it explicitly does not make another project's database name free.
    data = with_value("projects/filter-ical/database", DATABASE)
    data["projects"]["other"] = second_project(
        database={**DATABASE, "user": "other", "container": "postgres-platform"})["projects"]["other"]
    assert f"{F}: projects/other: database 'filter_ical' is already used by " \
           "projects/filter-ical/database/databases/production" in refused(data)


# --- routing ----------------------------------------------------------------------------------------

def test_location_routed_to_two_containers(refused):
    data = with_value("projects/filter-ical/containers/frontend/api_locations", ["/api/"])
    assert refused(data) == [f"{F}: projects/filter-ical: location '/api' is routed to both 'backend' and 'frontend'"]


def test_nginx_location_also_on_frontend(refused):
    data = with_value("projects/filter-ical/nginx", {"api_locations": "/static"})
    data["projects"]["filter-ical"]["containers"]["frontend"]["api_locations"] = "/static"
    assert refused(data) == [
        f"{F}: projects/filter-ical: location '/static' is routed to both 'backend' and 'frontend'"]


def test_same_location_twice_for_the_backend_is_fine(load):
    data = with_value("projects/filter-ical/nginx", {"api_locations": ["/api", "/extra"]})
    project = load(data).projects[0]
    assert [location for location, _ in project.api_routes] == ["/api", "/extra", "/domains", "/calendars", "/admin"]


def test_nginx_api_locations_need_a_backend(refused):
    data = {"projects": {"p": {"domains": {"production": "p.example.com"},
                               "containers": {"web": {"name": "p-web", "port": 80}},
                               "nginx": {"api_locations": ["/api"]}}}}
    assert refused(data) == [
        f"{F}: projects/p/nginx/api_locations: needs a container with the role 'backend' to route to"]


def test_problem_lines_never_contain_newlines(refused):
    weird = "a\nb\rc\u2028d"
    data = {"projects": {weird: {"domains": {weird: weird}, "containers": {weird: {weird: weird}}}}}
    problems = refused(data)
    assert len(problems) > 3
    assert all(line.startswith(f"{F}: ") and not re.search(r"[\n\r\u2028]", line) for line in problems)
