"""A deploy SIGKILLed at any instant: not one request fails (load runs through nginx from
before the kill until the next deploy is done), the manifest stays valid JSON, cleanup
(`deploy.recover`, or the next deploy) leaves nothing behind, and the next deploy works.

Two kinds of points. KILL_POINTS are moments inside a step, each with the exact outcome
it must lead to. BOUNDARIES kill the process as soon as a step reports OK, and
killing mid-way through the pre-flight and the backup covers the time before the
journal exists; there the outcome is checked by its invariants (the old or the new
version, whole, matching the manifest and the database), because a SIGKILL lands a
few milliseconds after the marker, possibly inside the next step.
"""

import re
import time

import pytest
from deploy_support import (LineReader, VolumeProject, demo_images, leftovers, no_request_fails,  # noqa: F401
                            projects, run, wait_for)

from platform_deploy.backup import catalog

pytestmark = pytest.mark.integration


def killed_at(project, reached, what: str, may_finish: bool = False, timeline=None) -> LineReader:
    """Deploy v2 through lib/deploy.sh and SIGKILL it once ``reached(reader)`` is true.

    ``may_finish``: the deploy may end on its own before the kill lands (a marker printed
    milliseconds before the end); the checks that follow hold either way.
    """
    process = project.shim("production", "--tag", "v2")
    reader = LineReader(process)
    try:
        wait_for(lambda: reached(reader) or process.poll() is not None, timeout=90, interval=0.02, what=what)
        assert may_finish or process.poll() is None, f"the deploy ended before {what}:\n{reader.text()}"
        process.kill()
        process.wait(timeout=30)
        if timeline is not None:
            timeline.append((time.monotonic(), f"SIGKILL {what}"))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    print(reader.text())
    return reader


def users_are_served(project, versions) -> None:
    for _ in range(3):
        assert set(project.serving()) <= versions
        time.sleep(0.3)


KILL_POINTS = {
    # name: (when to SIGKILL, versions users may get right after, how to clean up, version after it)
    # Backup written, images being pulled: nothing has changed for users yet.
    "during-pull": ("pull", {"v1"}, "recover", "v1"),
    # Candidates being created beside the live containers.
    "while-starting": ("start", {"v1"}, "next-deploy", "v1"),
    # After "start candidates", while the candidate backend runs `alembic upgrade head`: the
    # command goes on in the container after the deploy died; recovery must still reverse it.
    "during-migration": ("alembic upgrade", {"v1"}, "recover", "v1"),
    # Old containers draining, candidates holding the live names as aliases.
    "while-switching": ("switching", {"v1", "v2"}, "next-deploy", "v1"),
    # Traffic confirmed on the candidates, renames not done.
    "after-switch": ("switched", {"v2"}, "recover", "v2"),
}


def migration_running(project) -> bool:
    journal = project.journal() or {}
    if journal.get("phase") != "migrate":
        return False
    backend = next(role["new_name"] for role in journal["roles"] if role["role"] == "backend")
    return "alembic upgrade" in run(["docker", "top", backend]).stdout


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_deploy_killed_mid_way_leaves_the_site_up_and_is_cleaned_up(projects, point):
    marker, served_after_kill, cleanup, expected = KILL_POINTS[point]
    project = projects()
    assert project.deploy("v1").ok
    with no_request_fails(project) as timeline:
        if marker == "alembic upgrade":  # the migration command runs in the candidate backend
            reader = killed_at(project, lambda _: migration_running(project), marker, timeline=timeline)
        else:
            reader = killed_at(project, lambda _: (project.journal() or {}).get("phase") == marker, marker,
                               timeline=timeline)
        assert project.journal() is not None, "the killed deploy left no journal"
        if marker == "alembic upgrade":
            assert reader.has("] start candidates  OK"), reader.text()

        # Killed: users are still served, the manifest is still valid JSON.
        users_are_served(project, served_after_kill)
        assert project.manifest()["current_deployment"]["version"] == "v1"

        if cleanup == "recover":
            assert "found interrupted deploy" in project.recover()
            assert project.settled() == expected
            assert project.manifest()["deployment_history"][0]["status"] == (
                "interrupted_completed" if expected == "v2" else "interrupted_rolled_back")

        following = project.deploy("v3")
        assert following.ok, following.error
    if cleanup == "next-deploy":
        assert "found interrupted deploy" in following.output
        statuses = [entry["status"] for entry in project.manifest()["deployment_history"]]
        assert statuses[:2] == ["success", "interrupted_rolled_back"], statuses
    assert project.settled() == "v3"
    assert not leftovers(project), leftovers(project)


# -- killed at every step boundary, and before the journal exists -----------------------------------

STEPS = ("pre-flight", "backup", "pull", "start candidates", "migrations", "health", "smoke tests",
         "switch traffic", "cleanup")


def step_done(name: str):
    line = re.compile(rf"^\s*\[[0-9]+/[0-9]+\] {re.escape(name)}\s+OK\b")   # " [4/10] start candidates  OK"
    return lambda reader: any(line.match(text) for text in list(reader.lines))


def holds_lock(project, pid: int) -> bool:
    """The deploy process took the lock and has not finished the pre-flight yet."""
    try:
        return f'"pid": {pid}' in (project.state_dir("production") / "deploy.lock").read_text(encoding="utf-8")
    except FileNotFoundError:
        return False


def mid_backup(project) -> bool:
    """A volume archive is being written: a payload with bytes in it and no .meta yet."""
    return any(tar.stat().st_size > 0 for orphan in catalog.orphans(project.settings, project.name, "production")
               for tar in orphan.glob("volumes/*.tar"))


@pytest.mark.parametrize("point", ["before pre-flight ends", "mid-backup",
                                   *(f"after {step}" for step in STEPS)])
def test_deploy_killed_anywhere_keeps_the_site_up_and_leaves_nothing(projects, point):
    project = projects(VolumeProject)
    assert project.deploy("v1").ok
    if point == "mid-backup":  # enough data that the kill lands while the volume is being archived
        project.in_volume("data", "head -c 300000000 /dev/zero > /v/big")
    with no_request_fails(project) as timeline:
        if point == "mid-backup":
            reader = killed_at(project, lambda _: mid_backup(project), point, timeline=timeline)
        elif point == "before pre-flight ends":
            reader = killed_at(project, lambda r: holds_lock(project, r.process.pid) and not r.has("] pre-flight"),
                               point, timeline=timeline)
        else:
            reader = killed_at(project, step_done(point.removeprefix("after ")), point,
                               may_finish=point == "after cleanup", timeline=timeline)

        users_are_served(project, {"v1", "v2"})
        before_cleanup = project.manifest()  # valid JSON, whatever instant the kill hit
        assert before_cleanup["current_deployment"]["version"] in ("v1", "v2")

        project.recover()
        assert project.settled() in ("v1", "v2"), reader.text()
        assert not leftovers(project), leftovers(project)

        following = project.deploy("v3")
        assert following.ok, following.error
    assert project.settled() == "v3"
    assert not leftovers(project), leftovers(project)
