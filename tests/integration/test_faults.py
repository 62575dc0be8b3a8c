"""Faults around a deploy: the registry unreachable, the disk below the threshold, PostgreSQL
stopped during the migration step, platform-nginx restarted and the Docker engine restarted
mid-deploy, and two projects deployed at the same time.

Each fault must give a clear error, a rollback where one applies and nothing lost: afterwards
the site serves one whole version (the one the manifest names), nothing is left over, and the
next deploy succeeds.

The engine restart stops dockerd for every container on the machine. Under systemd it goes
through `systemctl restart docker`; otherwise dockerd is stopped and bin/start-docker starts it
again (as in CI). Set PLATFORM_TESTS_KEEP_ENGINE=1 to skip that test on a machine you share.
"""

import dataclasses
import io
import os
import shutil
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from deploy_support import (ENGINE, REPO, LineReader, demo_images, projects, run, tiny_filesystem,  # noqa: F401
                            wait_for)

from platform_deploy.deploy.pipeline import DeployFailed, Deployment, Options
from platform_deploy.report import ConsoleReport

pytestmark = pytest.mark.integration


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when this returns: nothing listens there


def test_registry_down_fails_the_pull_and_leaves_the_live_version(projects):
    project = projects()
    assert project.deploy("v1").ok
    live_ids = {name: c["id"] for name, c in project.containers().items()}
    unreachable = f"127.0.0.1:{closed_port()}"

    def point_images_at(registry: str):
        def change(entries):
            for role, container in entries[project.name]["containers"].items():
                container["image"] = f"{registry}/demo-{role}"
        project._edit_registry(change)

    point_images_at(unreachable)
    try:
        outcome = project.deploy("v2")
    finally:
        point_images_at("127.0.0.1:5000")
    assert not outcome.ok
    assert f"cannot pull {unreachable}/demo-" in outcome.error
    assert project.serving() == ("v1", "v1")
    assert {name: c["id"] for name, c in project.containers().items()} == live_ids
    assert project.manifest()["last_attempt"]["status"] == "rolled_back"
    assert project.journal() is None


def test_two_projects_deploy_at_the_same_time(projects):
    first, second = projects(), projects()
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda project: project.deploy("v1"), (first, second)))
    assert all(outcome.ok for outcome in outcomes), [outcome.error for outcome in outcomes]
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda project: project.deploy("v2"), (first, second)))
    assert all(outcome.ok for outcome in outcomes), [outcome.error for outcome in outcomes]
    assert first.serving() == ("v2", "v2") and second.serving() == ("v2", "v2")


def test_disk_below_the_threshold_stops_the_deploy_before_anything_changes(projects):
    project = projects()
    assert project.deploy("v1").ok
    live_ids = {name: c["id"] for name, c in project.containers().items()}
    with tiny_filesystem("8m") as small:
        settings = dataclasses.replace(project.settings, backups_dir=small, min_free_gb=0.5)
        out = io.StringIO()
        with pytest.raises(DeployFailed) as failed:
            Deployment(ENGINE, settings, project.registry(), project.name, "production", Options(tag="v2"),
                       ConsoleReport(out)).run()
        print(out.getvalue())
        assert "aborted: pre-flight failed (disk space)" in str(failed.value)
        assert f"FAIL  disk space: only 0.0 GB free for backups {small} (need 0.5 GB)" in out.getvalue()
        assert list(small.iterdir()) == [], "the aborted deploy wrote a backup"
    assert project.serving() == ("v1", "v1")
    assert {name: c["id"] for name, c in project.containers().items()} == live_ids
    assert project.manifest()["last_attempt"]["status"] == "aborted"


def deploy_in_background(project, tag: str) -> tuple:
    process = project.shim("production", "--tag", tag)
    return process, LineReader(process)


def finished(process, reader, timeout=180) -> str:
    try:
        process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
    output = reader.text()
    print(output)
    assert "Traceback" not in output, output
    return output


@contextmanager
def postgres_stopped_during(project, tag: str, reached):
    """Deploy ``tag`` in the background and stop PostgreSQL once ``reached(reader)``. Yields the deploy's
    (exit code, output) while PostgreSQL is still down; starts it again afterwards."""
    postgres = project.settings.postgres_container
    process, reader = deploy_in_background(project, tag)
    try:
        wait_for(lambda: reached(reader) or process.poll() is not None, timeout=90, interval=0.02,
                 what=f"the moment to stop {postgres}")
        assert run(["docker", "stop", postgres], timeout=60).returncode == 0
        output = finished(process, reader)
        yield process.returncode, output
    finally:
        stop_in_any_case(process)
        run(["docker", "start", postgres])
    wait_for(project.stack.responsive, timeout=90, what=f"{postgres} healthy again")


def stop_in_any_case(process) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


def test_postgres_down_during_the_migration_step_rolls_back(projects):
    project = projects()
    assert project.deploy("v1").ok
    with postgres_stopped_during(project, "v2", lambda _: (project.journal() or {}).get("phase") == "start") as (
            code, output):
        assert code == 1
        assert "] migrations        FAILED" in output and "error: deploy of" in output
    # When the database went away after its revision was read, the deploy cannot tell whether
    # the migration ran: the journal stays for recover.
    if project.manifest()["last_attempt"]["status"] == "rollback_failed":
        assert "invoke deploy.recover" in output and project.journal() is not None
        assert "found interrupted deploy" in project.recover()
    assert project.settled() == "v1"
    assert project.deploy("v2").ok
    assert project.settled() == "v2"


def test_database_gone_during_the_rollback_keeps_the_candidates_for_recover(projects):
    project = projects()
    assert project.deploy("v1").ok
    # broken-health migrates 0001 -> 0002, then never turns healthy: the rollback must downgrade.
    with postgres_stopped_during(project, "broken-health", lambda r: r.has("] migrations        OK")) as (
            code, output):
        assert code == 1
        assert "rolled back" not in output and "rollback failed" in output
        assert "FAILED: database NOT restored" in output and "invoke deploy.recover" in output
        journal = project.journal()
        assert journal is not None and journal["migrations"][0]["before"] == "0001"
        kept = {name: c["status"] for name, c in project.containers().items() if "-next-" in name}
        assert len(kept) == 2 and set(kept.values()) == {"exited"}, kept
        # Still down: recovery refuses to give up the candidates' scripts, and says what to do.
        refused = project.invoke("deploy.recover", "--project", project.name, "--env", "production")
        assert refused.returncode == 1 and "is not undone yet" in refused.stderr, refused.stderr
        assert "--abandon" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
        assert project.journal() is not None

    assert project.revision() == "0002"   # the candidate's migration is still in place
    recovered = project.recover()
    assert "found interrupted deploy" in recovered and "database downgraded to 0001" in recovered
    assert project.settled() == "v1"
    assert project.deploy("v2").ok
    assert project.settled() == "v2"


def test_platform_nginx_restarted_mid_deploy(projects):
    project = projects()
    assert project.deploy("v1").ok
    process, reader = deploy_in_background(project, "v2")
    try:
        wait_for(lambda: (project.journal() or {}).get("phase") == "switching" or process.poll() is not None,
                 timeout=90, interval=0.02, what="the switch")
        assert run(["docker", "restart", "-t", "2", project.settings.nginx_container], timeout=60).returncode == 0
        output = finished(process, reader)
    finally:
        stop_in_any_case(process)
    wait_for(project.stack.responsive, timeout=90, what="nginx healthy again")
    status = project.manifest()["last_attempt"]["status"]
    # Either outcome is right: the switch check went through the restarted nginx, or it did not and
    # traffic went back; what matters is a whole version serving and nothing left over.
    assert (process.returncode, status) in ((0, "success"), (1, "rolled_back")), output
    assert project.settled() == ("v2" if status == "success" else "v1")
    assert project.deploy("v3").ok
    assert project.settled() == "v3"


SYSTEMD = Path("/run/systemd/system").is_dir()


def restart_docker_engine(stopped):
    """Stop the engine, call ``stopped()``, and start the engine again whatever happened."""
    if SYSTEMD:  # the socket unit would start dockerd again at the next client call
        run(["systemctl", "stop", "docker.socket", "docker.service"], timeout=180)
    else:
        run(["pkill", "-TERM", "-x", "dockerd"])
    try:
        wait_for(lambda: run(["docker", "info"], timeout=30).returncode != 0, timeout=120, what="dockerd to stop")
        stopped()
    finally:
        if SYSTEMD:
            started = run(["systemctl", "start", "docker.socket", "docker.service"], timeout=180)
        else:
            deadline = time.monotonic() + 120
            while run(["pgrep", "-x", "dockerd"]).returncode == 0 and time.monotonic() < deadline:
                time.sleep(0.5)
            run(["pkill", "-KILL", "-x", "dockerd"])   # still there after 2 minutes: it must go
            started = run([str(REPO / "bin" / "start-docker")], timeout=180)
        assert started.returncode == 0, started.stdout + started.stderr


@pytest.mark.skipif(bool(os.environ.get("PLATFORM_TESTS_KEEP_ENGINE")), reason="PLATFORM_TESTS_KEEP_ENGINE is set")
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("dockerd"), reason="restarting dockerd needs root")
def test_docker_engine_restarted_mid_deploy(projects):
    project = projects()
    assert project.deploy("v1").ok
    process, reader = deploy_in_background(project, "v2")
    outputs = []
    try:
        wait_for(lambda: reader.has("] migrations        OK") or process.poll() is not None,
                 timeout=90, interval=0.02, what="the migration")
        assert process.poll() is None, reader.text()
        restart_docker_engine(lambda: outputs.append(finished(process, reader, timeout=120)))
    finally:
        stop_in_any_case(process)
    output = outputs[0]
    assert process.returncode == 1
    assert "lost the connection to the Docker engine" in output
    # The rollback needs the engine too: the journal stays and the message says what to run.
    assert "rollback failed" in output and "invoke deploy.recover" in output
    assert project.journal() is not None
    assert project.manifest()["last_attempt"]["status"] == "rollback_failed"

    # Containers come back with the engine (restart policy); the candidates never got the live names.
    wait_for(project.stack.responsive, timeout=180, what="the platform services back")
    wait_for(lambda: project.serves("v1"), timeout=120, what="v1 serving again")
    assert "found interrupted deploy" in project.recover()
    assert project.settled() == "v1"   # the migration was reversed with the candidate's scripts
    assert project.deploy("v2").ok
    assert project.settled() == "v2"
