"""Secrets never leak: a marker in SECRET_KEY and DATABASE_URL appears in no output, log, manifest or .meta.

The project's env file holds the marker; every command an operator runs (deploy, a
failing deploy, status in all its forms, backups, restore, metrics) is run through
the real CLI, and everything it printed or wrote outside the backup payload (which
keeps a 0600 copy of the env file on purpose) is searched for it.
"""

import os
import stat
import subprocess
from pathlib import Path

import pytest

from deploy_support import REPO, DemoProject, demo_images, run  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration

MARKER = "M4RKERsecret"


@pytest.fixture
def secret_project(platform_stack, demo_images):
    project = DemoProject(platform_stack)
    project.password = f"{MARKER}pw{os.getpid()}"
    project.secret_key = f"{MARKER}key{os.getpid()}"
    try:
        project.add()
        yield project
    finally:
        problems = project.remove()
        assert not problems, problems


def files_to_search(project) -> list[Path]:
    settings = project.settings
    found = [p for p in Path(settings.deployments_dir).rglob("*") if p.is_file()]
    found += list(Path(settings.backups_dir).rglob("*.meta"))
    found += list(settings.conf_dir.glob("*.conf"))
    return found


def test_marker_appears_in_no_output_log_manifest_or_meta(secret_project):
    project = secret_project
    name = project.name
    outputs = []

    def cli(*args):
        result = project.invoke(*args, timeout=300)
        outputs.append((" ".join(args), result.stdout + result.stderr))
        return result

    def shim(program, *args):
        result = run([str(REPO / "lib" / program), name, "production", *args], cwd=REPO,
                     env=project.subprocess_env(), timeout=300)
        outputs.append((f"{program} {' '.join(args)}", result.stdout + result.stderr))
        return result

    assert shim("deploy.sh", "--tag", "v1").returncode == 0
    assert shim("deploy.sh", "--tag", "v2").returncode == 0
    assert shim("deploy.sh", "--tag", "broken-smoke").returncode != 0
    for args in ((), ("--history",), ("--rollback",), ("--json",)):
        assert shim("deployment-status.sh", *args).returncode == 0
    assert cli("backup.create", "--project", name, "--env", "production").returncode == 0
    assert cli("backup.list", "--project", name, "--env", "production").returncode == 0
    assert cli("backup.verify", "--project", name, "--env", "production").returncode == 0
    assert cli("backup.restore", "--project", name, "--env", "production", "--with-database").returncode == 0
    assert cli("status.metrics", "--prometheus", str(project.settings.deployments_dir / "metrics.prom")).returncode == 0

    leaks = [what for what, text in outputs if MARKER in text]
    leaks += [str(path) for path in files_to_search(project) if MARKER.encode() in path.read_bytes()]
    for container in (project.settings.nginx_container, project.settings.postgres_container):
        logs = subprocess.run(["docker", "logs", container], capture_output=True, text=True)
        if MARKER in logs.stdout + logs.stderr:
            leaks.append(f"docker logs {container}")
    assert not leaks, f"the secret marker leaked into: {leaks}"
    assert all(MARKER not in text for _, text in outputs)


def test_env_files_and_backups_are_private_and_loose_env_files_are_warned_about(secret_project):
    project = secret_project
    assert project.deploy("v1").ok
    assert project.deploy("v2").ok
    backups = project.backups_dir("production")
    for path in [backups, *backups.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
    project.env_path("production").chmod(0o644)
    outcome = project.deploy("v3")
    assert outcome.ok
    assert "readable by other users" in outcome.output
