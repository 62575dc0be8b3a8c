"""SIGKILL at instants nobody chose: not one request fails, whatever dies where.

test_killed_deploy.py kills at the step boundaries; here a seeded random generator
picks the instants (KILL_SEED replays a run; the seed is printed): 20 across a
whole deploy, the recovery of a killed switch killed in turn, and restores. Load
runs through nginx the whole time; after each kill the project is recovered and
must have settled on one whole version with nothing left behind. The deploys
rotate through the app variants: one whose PID 1 ignores SIGTERM, one that drops
its requests in flight on SIGTERM, and the well-behaved one.
"""

import os
import random
import subprocess
import time

import pytest
from deploy_support import (REVISIONS, LineReader, VolumeProject, demo_images, leftovers,  # noqa: F401
                            no_request_fails, projects, wait_for)

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("KILL_SEED", "20261201"))
RANDOM_KILLS = 20


def sigkill_after(process: subprocess.Popen, seconds: float, timeline, what: str) -> bool:
    """SIGKILL ``process`` ``seconds`` after now unless it ends first; True when it was killed."""
    try:
        process.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)
        timeline.append((time.monotonic(), f"SIGKILL {what}"))
        return True


ROTATION = ("ignore-term", "v3", "drop-on-term", "v2")


def next_variant(version: str) -> str:
    """The next app variant to deploy over ``version``."""
    return ROTATION[(ROTATION.index(version) + 1) % len(ROTATION)] if version in ROTATION else ROTATION[0]


def deploy_seconds(project) -> float:
    """Wall time of a whole deploy through the shim, the old containers' retirement included."""
    started = time.monotonic()
    process = project.shim("production", "--tag", "v2")
    reader = LineReader(process)
    assert process.wait(timeout=120) == 0, reader.text()
    return time.monotonic() - started


def test_deploys_killed_at_20_random_instants_fail_no_request(projects):
    project = projects()
    assert project.deploy("v1").ok
    whole = deploy_seconds(project)
    chance = random.Random(SEED)
    print(f"KILL_SEED={SEED}; a whole deploy takes {whole:.1f} s")
    version = "v2"
    with no_request_fails(project, max_seconds=600) as timeline:
        for _ in range(RANDOM_KILLS):
            tag, at = next_variant(version), chance.uniform(0, whole)
            timeline.append((time.monotonic(), f"deploy {tag}, to be killed at {at:.2f} s"))
            process = project.shim("production", "--tag", tag)
            reader = LineReader(process)
            if not sigkill_after(process, at, timeline, f"deploy of {tag}"):
                assert process.returncode == 0, reader.text()
            project.recover()
            previous, version = version, project.settled()
            assert version in (previous, tag), reader.text()
            assert not leftovers(project), leftovers(project)


def test_the_recovery_of_a_killed_switch_killed_in_turn_fails_no_request(projects):
    project = projects()
    assert project.deploy("v1").ok
    chance = random.Random(SEED + 1)
    version = "v1"
    with no_request_fails(project, max_seconds=600) as timeline:
        for _ in range(5):
            tag = next_variant(version)
            process = project.shim("production", "--tag", tag)
            reader = LineReader(process)
            wait_for(lambda: (project.journal() or {}).get("phase") == "switching" or process.poll() is not None,
                     timeout=90, interval=0.02, what="the switch")
            assert process.poll() is None, reader.text()
            sigkill_after(process, chance.uniform(0, 2.5), timeline, f"deploy of {tag} while switching")
            recovering = project.invoke_process("deploy.recover", "--project", project.name, "--env", "production")
            LineReader(recovering)   # drains its output
            sigkill_after(recovering, chance.uniform(0, 4), timeline, "its recovery")
            project.recover()
            previous, version = version, project.settled()
            assert version in (previous, tag), reader.text()
            assert not leftovers(project), leftovers(project)


def test_restores_killed_at_random_instants_fail_no_request(projects):
    """v2 and v3 need the same schema, so the restores leave the database alone: a restore
    --with-database replaces it under the live version, whose writes can fail while it loads."""
    project = projects(VolumeProject)
    assert project.deploy("v2").ok and project.deploy("v3").ok
    chance = random.Random(SEED + 2)
    with no_request_fails(project, max_seconds=600) as timeline:
        for _ in range(5):   # the newest backup holds the other version, its volumes and env file
            restoring = project.invoke_process("backup.restore", "--project", project.name, "--env", "production")
            reader = LineReader(restoring)
            if not sigkill_after(restoring, chance.uniform(0, 8), timeline, "restore"):
                assert restoring.returncode == 0, reader.text()
            project.recover()
            assert served_whole(project) in ("v2", "v3"), reader.text()
            assert not leftovers(project), leftovers(project)


def served_whole(project) -> str:
    """One version serves, with its own database revision, and nothing else is left."""
    backend, frontend = project.serving()
    assert backend == frontend and project.revision() == REVISIONS[backend], (backend, frontend, project.revision())
    assert project.journal() is None
    assert sorted(project.containers()) == [project.live_name("backend"), project.live_name("frontend")]
    return backend
