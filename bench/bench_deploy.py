"""Deploy time per step and the tool's own overhead, beside the original's core step.

    .venv/bin/python bench/bench_deploy.py [--deploys 5]

Starts its own platform copy (bench-* containers, nginx on a free loopback
port), deploys the demo project (two containers, healthy within a second)
alternating v2/v3, and prints per-step medians. Overhead is the total minus
the time spent waiting on containers (migrations, health, smoke tests) and on
the switch's deliberate DNS turnover and drain. The same two containers are
then replaced with `docker-compose up -d --force-recreate` (what the original
did, with downtime) and waited for until healthy, for the ratio.
Needs bin/start-registry and bin/build-demo-images to have run.
"""

import argparse
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from platform_deploy import platform_services
from platform_deploy.config import load_registry
from platform_deploy.deploy import pipeline, switch
from platform_deploy.report import ConsoleReport
from platform_deploy.runtime import docker
from platform_deploy.settings import REPO_ROOT, Settings

WAITING_STEPS = ("migrations", "health", "smoke tests")
COMPOSE_TEMPLATE = """\
version: "2.4"
services:
  backend:
    image: 127.0.0.1:5000/demo-backend:{tag}
    container_name: {prefix}-backend
    env_file: {env_file}
    networks: [net]
  frontend:
    image: 127.0.0.1:5000/demo-frontend:{tag}
    container_name: {prefix}-frontend
    networks: [net]
networks:
  net:
    external: true
    name: {network}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Quiet(ConsoleReport):
    def __init__(self):
        super().__init__(open(os.devnull, "w"))


def bench_registry(project: str) -> str:
    """The demo project under a unique name, so a running bin/demo is never touched."""
    demo = yaml.safe_load((REPO_ROOT / "examples" / "demo" / "projects.yml").read_text())["projects"]["demo"]
    for container in demo["containers"].values():
        container["name"] = container["name"].replace("demo", project)
    demo["domains"] = {"production": f"{project}.localhost"}
    demo["database"].update(user=project, databases={"production": f"{project}_production"})
    return yaml.safe_dump({"projects": {project: demo}})


def make_root(root: Path, suffix: str) -> Settings:
    project = f"bench{suffix}"
    (root / "config" / project).mkdir(parents=True)
    (root / "config" / "projects.yml").write_text(bench_registry(project))
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


def timed_compose_recreate(settings: Settings, project: str, tag: str, prefix: str) -> float:
    compose_file = settings.root / "compose-bench.yml"
    compose_file.write_text(COMPOSE_TEMPLATE.format(
        tag=tag, prefix=prefix, network=f"{project}-production",
        env_file=settings.root / "config" / project / ".env.production"))
    command = ["docker-compose", "-f", str(compose_file), "-p", prefix, "up", "-d", "--force-recreate"]
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True)
    for name in (f"{prefix}-backend", f"{prefix}-frontend"):
        while (docker.container_state(name) or {}).get("health") != "healthy":
            if time.monotonic() - started > 120:
                raise RuntimeError(f"{name} not healthy")
            time.sleep(0.1)
    return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=5)
    args = parser.parse_args()
    suffix = secrets.token_hex(3)
    env = {"PLATFORM_HTTP_BIND": "127.0.0.1", "PLATFORM_HTTP_PORT": str(free_port()),
           "PLATFORM_HTTPS_PORT": str(free_port()), "PLATFORM_POSTGRES_VOLUME": f"bench-pg-{suffix}",
           "PLATFORM_CERTBOT_VOLUME": f"bench-certbot-{suffix}"}
    os.environ.update(env)
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_root(Path(tmp), suffix)
        registry = load_registry(settings.projects_file)
        project = registry.projects[0].name
        try:
            platform_services.up(settings, registry)
            runs = []
            for index in range(args.deploys + 1):
                tag = ("v1", "v2", "v3")[min(index, 1 + index % 2)]
                entry = pipeline.Deployment(settings, registry, project, "production",
                                            pipeline.Options(tag=tag), Quiet()).run()
                if index:  # the first deploy only creates the live version
                    runs.append(entry)
            compose_times = [timed_compose_recreate(settings, project, tag, f"bench-compose-{suffix}")
                             for tag in ("v2", "v3", "v2")]
        finally:
            subprocess.run(["docker", "rm", "-f", f"{project}-backend-production", f"{project}-frontend-production",
                            f"bench-compose-{suffix}-backend", f"bench-compose-{suffix}-frontend"],
                           capture_output=True)
            platform_services.down(settings)
            subprocess.run(["docker", "network", "rm", f"{project}-production"], capture_output=True)
            subprocess.run(["docker", "volume", "rm", env["PLATFORM_POSTGRES_VOLUME"],
                            env["PLATFORM_CERTBOT_VOLUME"]], capture_output=True)

    print(f"deploys measured: {len(runs)} (demo project, 2 containers, v2 <-> v3)")
    names = [step["name"] for step in runs[0]["steps"]]
    for name in names:
        seconds = statistics.median(next(s["seconds"] for s in run["steps"] if s["name"] == name) for run in runs)
        print(f"  {name:<17} {seconds:6.2f} s")
    totals = [run["duration_seconds"] for run in runs]
    dns_wait = 2 * switch.DNS_SETTLE_SECONDS
    overheads = []
    for run in runs:
        waiting = sum(s["seconds"] for s in run["steps"] if s["name"] in WAITING_STEPS) + dns_wait
        overheads.append(run["duration_seconds"] - waiting)
    total, overhead, compose = statistics.median(totals), statistics.median(overheads), statistics.median(compose_times)
    print(f"whole deploy (median): {total:.2f} s (target < 10 s)")
    print(f"tool overhead (total - container waits - {dns_wait:.1f} s DNS turnover): {overhead:.2f} s (target < 2 s)")
    print(f"docker-compose up -d --force-recreate + healthy (median of 3): {compose:.2f} s, with downtime")
    print(f"ratio deploy / compose recreate: {total / compose:.1f}x")


if __name__ == "__main__":
    main()
