"""Fuzz the registry: anything is refused with clean one-line problems, or accepted and renders safely.

"Renders safely" means every line of every generated file has one of the template's
shapes, with each value that came from the user matching the validator's allowlist:
no ';', '{', '}', quote, '$', '#', whitespace or newline can reach nginx.
"""

import re

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import strategies
from platform_deploy.config.load import parse_registry
from platform_deploy.config.model import Registry
from platform_deploy.config.validate import DOCKER_NAME, DOMAIN, LOCATION, NAME, RATE, ZONE, validate
from platform_deploy.errors import ConfigError
from platform_deploy.nginx.render import MARKER, render_registry

PREFIX = "config/projects.yml: "
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def inner(pattern):
    """A validator regex without its anchors, to embed in a line shape."""
    return pattern.pattern.removeprefix("^").removesuffix("$")


D, L, C, N = inner(DOMAIN), inner(LOCATION), inner(DOCKER_NAME), inner(NAME)
ZONE_NAME = rf"[a-z0-9_]+__{inner(ZONE)}"
ENV = "(?:production|staging)"
CERT = r"/etc/letsencrypt/live/(?P<cert>[^/]+)"

# Every line the template can produce, stripped of indentation; user values only where named.
LINE_SHAPES = [re.compile(shape) for shape in (
    "", "}", "server {", "listen 80;", "listen 443 ssl http2;",
    re.escape(f"# {MARKER}"),
    re.escape("# Edit config/projects.yml instead, then run: python3 lib/generate-nginx-configs.py"),
    rf"# project: {N}",
    rf"limit_req_zone \$binary_remote_addr zone={ZONE_NAME}:10m rate={inner(RATE)};",
    rf"# {N} / {ENV}(?:: HTTP only, no certificate in {CERT})?",
    rf"server_name {D}(?: {D})*;",
    r"location \^~ /\.well-known/acme-challenge/ \{", r"root /var/www/certbot;", r"default_type text/plain;",
    r"include snippets/(?:security-headers|hsts|proxy)\.conf;",
    r'add_header X-Robots-Tag "noindex, nofollow" always;',
    r"location / \{", r"return 301 https://\$host\$request_uri;",
    rf"ssl_certificate {CERT}/fullchain\.pem;", rf"ssl_certificate_key {CERT}/privkey\.pem;",
    r"resolver 127\.0\.0\.11 valid=1s ipv6=off;", r"resolver_timeout 5s;",
    rf"# (?P<a>{L}) and everything below it, but not (?P=a)foo",
    rf"location = (?P<loc>{L}) \{{", rf"location \^~ (?P<loc>{L})/ \{{",
    rf"set \$upstream {C}-{ENV}:(?P<port>[0-9]+);",
    rf"limit_req zone={ZONE_NAME}(?: burst=[1-9][0-9]* nodelay)?;",
    r"proxy_intercept_errors on;", r"error_page 404 = @spa_fallback;",
    re.escape("# Single-page app: a path the frontend does not know gets its index.html."),
    r"location @spa_fallback \{", r"rewrite \^ /index\.html break;",
)]
FORBIDDEN = re.compile(r"""[;{}'"$#\s]""")


def assert_problems_are_clean(error: ConfigError):
    assert error.problems
    for line in error.problems:
        assert line.startswith(PREFIX), line
        assert not re.search(r"[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]", line), repr(line)
    assert str(error) == "\n".join(error.problems)


def assert_renders_safely(registry: Registry, has_certificate):
    rendered = render_registry(registry, has_certificate)
    assert sorted(rendered.files) == sorted(p.config_filename for p in registry.projects)
    for name, text in rendered.files.items():
        assert not FORBIDDEN.search(name) and "/" not in name and name.endswith(".conf")
        assert text.count("{") == text.count("}")
        for line in text.splitlines():
            stripped = line.strip()
            match = next((m for m in (shape.fullmatch(stripped) for shape in LINE_SHAPES) if m), None)
            assert match, f"{name}: unexpected line {line!r}"
            groups = match.groupdict()
            if groups.get("loc"):
                assert LOCATION.fullmatch(groups["loc"]) and not FORBIDDEN.search(groups["loc"])
            if groups.get("cert"):
                assert DOMAIN.fullmatch(groups["cert"]) and not groups["cert"].startswith("*")
            if groups.get("port"):
                assert 1 <= int(groups["port"]) <= 65535
            if stripped.startswith("server_name "):
                for domain in stripped.removeprefix("server_name ").removesuffix(";").split(" "):
                    assert DOMAIN.fullmatch(domain) and not FORBIDDEN.search(domain)


def check(data):
    """Validate ``data`` through YAML like a real file; return the Registry or None when refused."""
    text = yaml.safe_dump(data, sort_keys=False)  # non-ASCII escaped: PyYAML emits a raw NEL it reads back as a break
    try:
        registry = parse_registry(text.encode("utf-8"))
    except ConfigError as error:
        assert_problems_are_clean(error)
        with pytest.raises(ConfigError) as direct:  # the YAML round trip changes nothing
            validate(data)
        assert direct.value.problems == error.problems
        return None
    assert isinstance(registry, Registry)
    assert validate(data) == registry
    return registry


certificates = st.sampled_from([lambda name: True, lambda name: False, lambda name: len(name) % 2 == 0])


@FUZZ
@given(strategies.registries(), certificates)
def test_generated_registries_are_accepted_and_render_safely(data, has_certificate):
    registry = check(data)
    assert registry is not None, "strategies.registries() produced a registry the validator refuses"
    assert registry.names == tuple(data["projects"])
    assert_renders_safely(registry, has_certificate)


@FUZZ
@given(strategies.mutated_registries(), certificates)
def test_mutated_registries_are_refused_cleanly_or_render_safely(data, has_certificate):
    registry = check(data)
    if registry is not None:
        assert_renders_safely(registry, has_certificate)


@FUZZ
@given(st.dictionaries(strategies.hostile_text(), strategies.hostile_values(), max_size=3), certificates)
def test_arbitrary_projects_mapping(projects, has_certificate):
    registry = check({"projects": projects})
    if registry is not None:
        assert_renders_safely(registry, has_certificate)


def field_values(field_strategy):
    """One project whose every container/domain/location field is drawn from ``field_strategy``."""
    return st.fixed_dictionaries({
        "name": field_strategy, "domain": field_strategy, "location": field_strategy, "port": field_strategy,
        "image": field_strategy, "env_file": field_strategy, "volume": field_strategy, "mount": field_strategy,
        "zone": field_strategy, "role": field_strategy, "project": field_strategy, "replicas": field_strategy,
        "placement": field_strategy,
    })


@FUZZ
@given(field_values(strategies.hostile_text()))
def test_arbitrary_text_in_every_field(values):
    data = {"projects": {values["project"]: {
        "domains": {"production": values["domain"], "staging": [values["domain"] + ".x"]},
        "containers": {values["role"]: {
            "name": values["name"], "port": values["port"], "api_locations": [values["location"]],
            "image": values["image"], "env_file": values["env_file"], "volumes": {values["volume"]: values["mount"]},
            "replicas": values["replicas"], "placement": [values["placement"]],
        }},
        "nginx": {"rate_limit": {"zone": values["zone"]}},
    }}}
    registry = check(data)
    if registry is not None:
        assert_renders_safely(registry, lambda name: True)


@FUZZ
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_arbitrary_bytes(data):
    try:
        registry = parse_registry(data)
    except ConfigError as error:
        assert_problems_are_clean(error)
    else:
        assert isinstance(registry, Registry)
