"""A throw-away platform copy for benchmarks: bench-* containers, nginx on a free loopback port.

    with bench_stack() as stack:
        pipeline.Deployment(stack.engine, stack.settings, stack.registry, stack.project, "production", ...).run()

It holds the demo project (examples/demo) under a unique name, so a running
bin/demo is never touched, and removes everything it started on exit. Needs
bin/start-registry and bin/build-demo-images to have run.
"""

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from platform_deploy import platform_services
from platform_deploy.config import load_registry
from platform_deploy.engine.docker import DockerEngine
from platform_deploy.naming import volume_name
from platform_deploy.report import ConsoleReport
from platform_deploy.settings import REPO_ROOT, Settings


@dataclass(frozen=True)
class BenchStack:
    engine: DockerEngine
    settings: Settings
    registry: object
    project: str
    http_port: int
    volume: str | None = None   # the backend's Docker volume, with bench_stack(with_volume=True)

    @property
    def host(self) -> str:
        return f"{self.project}.localhost"

    @property
    def env_file(self) -> Path:
        return self.settings.root / "config" / self.project / ".env.production"


class Quiet(ConsoleReport):
    """A report that prints nothing: benchmarks print their own figures."""

    def __init__(self):
        super().__init__(open(os.devnull, "w"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bench_registry(project: str, volume: str | None = None) -> str:
    demo = yaml.safe_load((REPO_ROOT / "examples" / "demo" / "projects.yml").read_text())["projects"]["demo"]
    for container in demo["containers"].values():
        container["name"] = container["name"].replace("demo", project)
    if volume:
        demo["containers"]["backend"]["volumes"] = {volume: "/data"}
    demo["domains"] = {"production": f"{project}.localhost"}
    demo["database"].update(user=project, databases={"production": f"{project}_production"})
    return yaml.safe_dump({"projects": {project: demo}})


def _make_root(root: Path, suffix: str, project: str, volume: str | None) -> Settings:
    (root / "config" / project).mkdir(parents=True)
    (root / "config" / "projects.yml").write_text(bench_registry(project, volume))
    nginx = root / "platform" / "nginx"
    nginx.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "platform" / "nginx" / "nginx.conf", nginx / "nginx.conf")
    shutil.copytree(REPO_ROOT / "platform" / "nginx" / "snippets", nginx / "snippets")
    settings = Settings(root=root, deployments_dir=root / "deployments", backups_dir=root / "backups",
                        certs_dir=root / "certs", nginx_container=f"bench-nginx-{suffix}",
                        postgres_container=f"bench-postgres-{suffix}", network=f"bench-platform-{suffix}",
                        min_free_gb=1.0)
    env_file = root / "config" / project / ".env.production"
    env_file.write_text(f"DATABASE_URL=postgresql://{project}:{secrets.token_hex(8)}@{settings.postgres_container}"
                        f":5432/{project}_production\nSECRET_KEY={secrets.token_hex(16)}\n")
    env_file.chmod(0o600)
    return settings


@contextlib.contextmanager
def bench_stack(with_volume: bool = False):
    """``with_volume``: the backend mounts a named volume at /data (``BenchStack.volume``)."""
    suffix = secrets.token_hex(3)
    project = f"bench{suffix}"
    volume = f"{project}-data" if with_volume else None
    http_port = free_port()
    env = {"PLATFORM_HTTP_BIND": "127.0.0.1", "PLATFORM_HTTP_PORT": str(http_port),
           "PLATFORM_HTTPS_PORT": str(free_port()), "PLATFORM_POSTGRES_VOLUME": f"bench-pg-{suffix}",
           "PLATFORM_CERTBOT_VOLUME": f"bench-certbot-{suffix}"}
    os.environ.update(env)
    with tempfile.TemporaryDirectory() as tmp:
        settings = _make_root(Path(tmp), suffix, project, volume)
        registry = load_registry(settings.projects_file)
        engine = DockerEngine()
        try:
            platform_services.up(engine, settings, registry)
            yield BenchStack(engine, settings, registry, project, http_port,
                             volume_name(volume, "production") if volume else None)
        finally:
            labelled = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=platform.project={project}"],
                                      capture_output=True, text=True).stdout.split()
            if labelled:
                subprocess.run(["docker", "rm", "-f", *labelled], capture_output=True)
            platform_services.down(engine, settings)
            subprocess.run(["docker", "network", "rm", f"{project}-production"], capture_output=True)
            subprocess.run(["docker", "volume", "rm", env["PLATFORM_POSTGRES_VOLUME"], env["PLATFORM_CERTBOT_VOLUME"],
                            *([volume_name(volume, "production")] if volume else [])], capture_output=True)
