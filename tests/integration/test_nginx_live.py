"""Generated configs in a real nginx: accepted at scale and for fuzzed registries, and routing as promised."""

import http.client
import secrets
import subprocess
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings as hypothesis_settings

from platform_deploy.config.load import parse_registry
from platform_deploy.errors import PlatformError
from platform_deploy.nginx import files, live
from platform_deploy.engine.docker import DockerEngine
from platform_deploy.naming import network_labels, network_name
from registry import synthetic_registry
from seed import DEPLOYMENT_EXAMPLE
from strategies import registries

pytestmark = pytest.mark.integration

ENGINE = DockerEngine()


# A tiny HTTP server for routing tests: it answers with its role and the path it received;
# the frontend knows only / and /index.html, like a single-page app's static server.
ECHO_SERVER = """
import http.server, sys
role = sys.argv[1]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        known = role == "backend" or self.path in ("/", "/index.html")
        body = f"{role} {self.path}".encode()
        self.send_response(200 if known else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("", int(sys.argv[2])), Handler).serve_forever()
"""


@pytest.fixture
def swap_registry(platform_stack):
    """Let a test install its own projects.yml and conf.d in the session stack; put the originals back after."""
    settings = platform_stack.settings
    saved_yml = settings.projects_file.read_bytes()
    saved_conf = {p.name: p.read_bytes() for p in settings.conf_dir.glob("*.conf")}

    def install(projects_yml: str):
        settings.projects_file.write_text(projects_yml, encoding="utf-8")
        for path in settings.conf_dir.glob("*.conf"):
            path.unlink()
        registry = parse_registry(projects_yml.encode())
        files.apply(settings, files.plan(settings, registry))
        return registry

    yield install
    settings.projects_file.write_bytes(saved_yml)
    for path in settings.conf_dir.glob("*.conf"):
        path.unlink()
    for name, data in saved_conf.items():
        (settings.conf_dir / name).write_bytes(data)
    live.test_config(ENGINE, settings)


def test_seed_example_and_200_projects_pass_nginx_t(platform_stack, swap_registry):
    many = yaml.safe_load(synthetic_registry(200))
    many["projects"].update(yaml.safe_load(DEPLOYMENT_EXAMPLE)["projects"])
    swap_registry(yaml.safe_dump(many))
    assert len(list(platform_stack.settings.conf_dir.glob("*.conf"))) == 201
    live.test_config(ENGINE, platform_stack.settings)


def test_longest_domain_passes_nginx_t(platform_stack, swap_registry):
    label = "a" * 63
    domain = ".".join([label, label, label, "b" * 58])  # 250 characters, the longest accepted
    swap_registry(DEPLOYMENT_EXAMPLE.replace("production: filter-ical.de", f"production: {domain}"))
    live.test_config(ENGINE, platform_stack.settings)


@hypothesis_settings(max_examples=15, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=registries())
def test_any_accepted_registry_renders_a_config_nginx_accepts(platform_stack, swap_registry, data):
    swap_registry(yaml.safe_dump(data))
    live.test_config(ENGINE, platform_stack.settings)


@pytest.fixture
def routed_project(platform_stack, swap_registry):
    """A project with an echoing backend and frontend, live behind the test nginx."""
    name = f"r{secrets.token_hex(3)}"
    registry = swap_registry(DEPLOYMENT_EXAMPLE.replace("filter-ical", name))
    project = registry.project(name)
    network = network_name(name, "production")
    ENGINE.ensure_network(network, network_labels(name, "production"))
    ENGINE.connect(platform_stack.settings.nginx_container, network)
    started = []
    try:
        for container in project.containers:
            container_name = container.container_name("production")
            subprocess.run(["docker", "run", "-d", "--name", container_name, "--network", network,
                            "--label", f"platform.project={name}", "platform-base:bookworm",
                            "python3", "-c", ECHO_SERVER, container.role, str(container.port)],
                           check=True, capture_output=True)
            started.append(container_name)
        live.reload(ENGINE, platform_stack.settings)
        yield project
    finally:
        subprocess.run(["docker", "rm", "-f", *started], capture_output=True)
        subprocess.run(["docker", "network", "disconnect", "-f", network, platform_stack.settings.nginx_container],
                       capture_output=True)
        subprocess.run(["docker", "network", "rm", network], capture_output=True)


def get(port: int, host: str, path: str, retry_502=True):
    """GET through nginx; retried while a reload is taking effect (444) or the echo servers start (502)."""
    for _ in range(50):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", path, headers={"Host": host})
            response = connection.getresponse()
        except http.client.RemoteDisconnected:
            time.sleep(0.2)
            continue
        body = response.read().decode()
        if response.status != 502 or not retry_502:
            return response, body
        time.sleep(0.2)
    raise AssertionError(f"{host}{path}: no answer through nginx")


@pytest.mark.parametrize("path, expected", [
    ("/api", "backend /api"),
    ("/api/", "backend /api/"),
    ("/api/calendars/1", "backend /api/calendars/1"),
    ("/admin", "backend /admin"),
    ("/apifoo", "frontend /index.html"),      # no boundary crossing: SPA fallback on the frontend
    ("/api.css", "frontend /index.html"),
    ("/", "frontend /"),
    ("/settings/profile", "frontend /index.html"),
])
def test_routing_through_nginx(platform_stack, routed_project, path, expected):
    response, body = get(platform_stack.http_port, routed_project.domains_for("production")[0], path)
    assert (response.status, body) == (200, expected)
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert response.getheader("X-Frame-Options") == "SAMEORIGIN"
    assert response.getheader("Strict-Transport-Security") is None  # no certificate: HTTP only


def test_staging_is_a_502_when_its_containers_are_down(platform_stack, routed_project):
    response, _ = get(platform_stack.http_port, routed_project.domains_for("staging")[0], "/", retry_502=False)
    assert response.status == 502
    live.test_config(ENGINE, platform_stack.settings)   # a missing container never breaks nginx -t


def test_reload_restores_the_previous_files_when_nginx_rejects(platform_stack, swap_registry):
    settings = platform_stack.settings
    registry = swap_registry(DEPLOYMENT_EXAMPLE)
    generated = settings.conf_dir / "filter-ical.de.conf"
    before = generated.read_bytes()
    broken = settings.conf_dir / "zz-hand-written.conf"
    broken.write_text("this is not nginx;\n")
    try:
        changed = yaml.safe_load(DEPLOYMENT_EXAMPLE)
        changed["projects"]["filter-ical"]["containers"]["backend"]["port"] = 4000
        settings.projects_file.write_text(yaml.safe_dump(changed))
        with pytest.raises(PlatformError, match=r"zz-hand-written\.conf:1.*previous files restored"):
            live.generate_and_reload(ENGINE, settings, parse_registry(yaml.safe_dump(changed).encode()))
        assert generated.read_bytes() == before
    finally:
        broken.unlink()
    live.test_config(ENGINE, settings)
    assert registry.project("filter-ical")
