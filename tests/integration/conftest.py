"""Integration fixtures: throw-away copies of the platform services (pytest-docker, docker-compose v1).

Every copy gets test-only names (containers, network, volumes, compose project), free
ports on 127.0.0.1 only, and a temporary PLATFORM_ROOT holding config/projects.yml and
platform/nginx/{nginx.conf,snippets,conf.d}; nothing here touches the real
platform-nginx, /opt, or this checkout's conf.d. Everything started is removed afterwards.

Fixtures for other test files:
  platform_stack     session: the running services (PlatformStack: .settings, .http_url, .env, ...)
  platform_settings  session: platform_stack.settings, a Settings pointed at the test copy
  fresh_stack        function: a prepared copy that is NOT started (for platform_services.up/down tests)
"""

import os
import secrets
import shlex
import shutil
import socket
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from platform_deploy import platform_services
from platform_deploy.config import load_registry
from platform_deploy.nginx import files
from platform_deploy.engine.docker import DockerEngine
from platform_deploy.settings import REPO_ROOT, Settings

ENGINE = DockerEngine()   # the tests' own handle on the engine; the code under test gets it passed in


@pytest.fixture(scope="session")
def engine() -> DockerEngine:
    return ENGINE


@dataclass(frozen=True)
class PlatformStack:
    settings: Settings
    compose_project: str
    http_port: int
    https_port: int
    postgres_volume: str
    certbot_volume: str

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def env(self) -> dict:
        """Every PLATFORM_* variable of this copy: for docker-compose and for `invoke` subprocesses."""
        settings = self.settings
        return {
            "PLATFORM_ROOT": str(settings.root),
            "PLATFORM_DEPLOYMENTS_DIR": str(settings.deployments_dir),
            "PLATFORM_BACKUPS_DIR": str(settings.backups_dir),
            "PLATFORM_CERTS_DIR": str(settings.certs_dir),
            "PLATFORM_NGINX_CONTAINER": settings.nginx_container,
            "PLATFORM_POSTGRES_CONTAINER": settings.postgres_container,
            "PLATFORM_NETWORK": settings.network,
            "PLATFORM_HTTP_BIND": "127.0.0.1",
            "PLATFORM_HTTP_PORT": str(self.http_port),
            "PLATFORM_HTTPS_PORT": str(self.https_port),
            "PLATFORM_POSTGRES_VOLUME": self.postgres_volume,
            "PLATFORM_CERTBOT_VOLUME": self.certbot_volume,
        }

    def responsive(self) -> bool:
        """Both platform services healthy and nginx answering."""
        return is_responsive(self)

    @property
    def registry(self):
        return load_registry(self.settings.projects_file)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_stack(root: Path, projects_yml: str) -> PlatformStack:
    """Lay out a temporary platform root and pick unique names and ports; start nothing."""
    nginx_dir = root / "platform" / "nginx"
    nginx_dir.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "platform" / "nginx" / "nginx.conf", nginx_dir / "nginx.conf")
    shutil.copytree(REPO_ROOT / "platform" / "nginx" / "snippets", nginx_dir / "snippets")
    (nginx_dir / "conf.d").mkdir()
    (root / "config").mkdir()
    (root / "config" / "projects.yml").write_text(projects_yml, encoding="utf-8")
    (root / "certs").mkdir()
    suffix = secrets.token_hex(4)
    settings = Settings(
        root=root,
        deployments_dir=root / "deployments",
        backups_dir=root / "backups",
        certs_dir=root / "certs",
        nginx_container=f"test-platform-nginx-{suffix}",
        postgres_container=f"test-postgres-platform-{suffix}",
        network=f"test-platform-{suffix}",
    )
    return PlatformStack(settings, platform_services.compose_project(settings), free_port(), free_port(),
                         f"test-postgres-data-{suffix}", f"test-certbot-{suffix}")


def compose_command(stack: PlatformStack) -> str:
    """docker-compose with this copy's variables, as one shell string (pytest-docker runs it with a shell)."""
    assignments = " ".join(shlex.quote(f"{name}={value}") for name, value in stack.env.items())
    return f"env {assignments} docker-compose"


def remove_stack(stack: PlatformStack, project_names=()) -> None:
    """Remove whatever this copy left: containers, its network and volumes, and the given projects' networks."""
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": False}
    subprocess.run(["docker-compose", "-f", str(platform_services.COMPOSE_FILE), "-p", stack.compose_project,
                    "down", "-v", "--timeout", "5"], env={**os.environ, **stack.env}, **quiet)
    settings = stack.settings
    subprocess.run(["docker", "rm", "-f", settings.nginx_container, settings.postgres_container], **quiet)
    for project in project_names:
        listed = subprocess.run(["docker", "network", "ls", "-q", "--filter", f"label=platform.project={project}"],
                                capture_output=True, text=True, check=False)
        for network in listed.stdout.split():
            subprocess.run(["docker", "network", "rm", network], **quiet)
    subprocess.run(["docker", "network", "rm", settings.network], **quiet)
    subprocess.run(["docker", "volume", "rm", stack.postgres_volume, stack.certbot_volume], **quiet)


def is_responsive(stack: PlatformStack) -> bool:
    states = [ENGINE.inspect(name) for name in platform_services.containers(stack.settings)]
    if not all(state and state.health == "healthy" for state in states):
        return False
    try:
        with urllib.request.urlopen(f"{stack.http_url}/nginx-health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def platform_images():
    """Build (or confirm, from the build cache) platform-nginx:local and platform-postgres:local."""
    subprocess.run([str(platform_services.BUILD_SCRIPT)], check=True, stdout=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def _session_stack(tmp_path_factory, platform_images):
    projects_yml = (REPO_ROOT / "config" / "projects.yml").read_text(encoding="utf-8")
    stack = make_stack(tmp_path_factory.mktemp("platform-root"), projects_yml)
    platform_services.ensure_password_file(stack.settings)
    files.apply(stack.settings, files.plan(stack.settings, stack.registry))
    yield stack
    # Runs after pytest-docker's `down -v`, and also when its setup failed half-way.
    remove_stack(stack)


@pytest.fixture(scope="session")
def docker_compose_command(_session_stack):
    return compose_command(_session_stack)


@pytest.fixture(scope="session")
def docker_compose_file():
    return str(platform_services.COMPOSE_FILE)


@pytest.fixture(scope="session")
def docker_compose_project_name(_session_stack):
    return _session_stack.compose_project


@pytest.fixture(scope="session")
def docker_setup():
    return ["up -d"]  # compose v1 has no `--wait`; platform_stack waits for health itself


@pytest.fixture(scope="session")
def docker_cleanup():
    return ["down -v --timeout 5"]


@pytest.fixture(scope="session")
def platform_stack(_session_stack, docker_services):
    """The running test copy of platform-nginx and postgres-platform, both healthy."""
    docker_services.wait_until_responsive(check=lambda: is_responsive(_session_stack), timeout=120, pause=0.5)
    return _session_stack


@pytest.fixture(scope="session")
def platform_settings(platform_stack) -> Settings:
    return platform_stack.settings


@pytest.fixture
def fresh_stack(tmp_path, monkeypatch, platform_images):
    """A prepared, not started copy whose registry holds one throw-away project (so its networks are test-only).

    Its variables are in os.environ for the test, as docker-compose reads ports and volume names from there.
    """
    project = f"it-{secrets.token_hex(4)}"
    projects_yml = (
        "projects:\n"
        f"  {project}:\n"
        "    domains:\n"
        f"      production: {project}.test\n"
        f"      staging: staging.{project}.test\n"
        "    containers:\n"
        "      frontend:\n"
        f"        name: {project}-frontend\n"
        "        port: 80\n"
    )
    stack = make_stack(tmp_path / "root", projects_yml)
    for name, value in stack.env.items():
        monkeypatch.setenv(name, value)
    yield stack
    remove_stack(stack, project_names=[project])
