"""The three-node swarm lab (bin/start-swarm-lab) made ready for the demo project, and `invoke` run on it as a
user would, with DOCKER_HOST on the manager: shared by the lab tests and bench/bench_swarm.py.

The manager (node1) is the lab's edge and database node: platform-nginx publishes port 80 there, on EDGE,
the lab's own address on a bridge made for it. The nodes pull from the local registry as LAB_REGISTRY.
"""

import os
import secrets
import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
LOCAL_REGISTRY = "127.0.0.1:5000"
LAB_REGISTRY = "10.123.0.1:5000"
EDGE = "10.123.0.11"
MANAGER = "unix:///run/swarmlab/node1.sock"
NODES = [f"unix:///run/swarmlab/node{n}.sock" for n in (1, 2, 3)]
DEMO_TAGS = ("v1", "v2", "v3", "broken-health", "broken-smoke", "broken-migration")
INVOKE = REPO / ".venv" / "bin" / "invoke"


def run(*argv: str, env=None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)


def ok(*argv: str, env=None, timeout: float = 300) -> str:
    done = run(*argv, env=env, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def on_lab(*argv: str) -> str:
    return ok("docker", "-H", MANAGER, *argv)


def start_fresh_lab(demo_tags=DEMO_TAGS) -> None:
    """A new lab (an earlier one's services gone) whose nodes hold the platform's images in the registry and
    the demo's ``demo_tags`` unpacked. Needs bin/start-registry, bin/build-demo-images and the platform's images.

    The lab's three engines share this machine's two cores: images unpacked on every node beforehand keep a
    deploy's tasks from starting beside a pull (seconds of CPU) that real nodes would not share."""
    for image in ("platform-nginx:local", "platform-postgres:local"):
        ok("docker", "tag", image, f"{LOCAL_REGISTRY}/{image}")
        ok("docker", "push", "--quiet", f"{LOCAL_REGISTRY}/{image}", timeout=600)
    stop_lab()
    ok(str(REPO / "bin" / "start-swarm-lab"))
    for node in NODES:
        for image in ("demo-backend", "demo-frontend"):
            for tag in demo_tags:
                ok("docker", "-H", node, "pull", "--quiet", f"{LAB_REGISTRY}/{image}:{tag}")


def stop_lab() -> None:
    ok(str(REPO / "bin" / "stop-swarm-lab"))


def demo_root(root: Path, replicas: dict[str, int]) -> dict:
    """A platform root for the demo project on the lab (``replicas`` by role) under ``root``; returns the
    environment `invoke` runs in there (no PLATFORM_* setting of this process's: a benchmark's own copy's)."""
    projects = yaml.safe_load((REPO / "examples" / "demo" / "projects.yml").read_text())
    for role, container in projects["projects"]["demo"]["containers"].items():
        container["image"] = container["image"].replace(LOCAL_REGISTRY, LAB_REGISTRY)
        container["replicas"] = replicas[role]
    (root / "config" / "demo").mkdir(parents=True)
    (root / "config" / "projects.yml").write_text(yaml.safe_dump(projects))
    env_file = root / "config" / "demo" / ".env.production"
    env_file.write_text(f"DATABASE_URL=postgresql://demo:{secrets.token_hex(8)}@postgres-platform:5432/"
                        f"demo_production\nSECRET_KEY={secrets.token_hex(16)}\n")
    env_file.chmod(0o600)
    (root / "platform" / "nginx").mkdir(parents=True)
    shutil.copy(REPO / "platform" / "nginx" / "nginx.conf", root / "platform" / "nginx" / "nginx.conf")
    shutil.copytree(REPO / "platform" / "nginx" / "snippets", root / "platform" / "nginx" / "snippets")
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("PLATFORM_")}
    return {**inherited, "DOCKER_HOST": MANAGER, "PLATFORM_ENGINE": "swarm", "PLATFORM_SWARM_REGISTRY": LAB_REGISTRY,
            "PLATFORM_ROOT": str(root), "PLATFORM_DEPLOYMENTS_DIR": str(root / "deployments"),
            "PLATFORM_BACKUPS_DIR": str(root / "backups"), "PLATFORM_CERTS_DIR": str(root / "letsencrypt")}


def invoke(env, *arguments: str) -> subprocess.CompletedProcess:
    return run(str(INVOKE), "--search-root", str(REPO), *arguments, env=env, timeout=900)


def invoke_ok(env, *arguments: str) -> str:
    return ok(str(INVOKE), "--search-root", str(REPO), *arguments, env=env, timeout=900)


def deploy(env, tag: str, project: str = "demo") -> subprocess.CompletedProcess:
    return invoke(env, "deploy", "--project", project, "--env", "production", "--tag", tag)
