"""Faults around a deploy: the registry unreachable, and two projects deployed at the same time."""

import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from deploy_support import demo_images, projects  # noqa: F401  (fixtures)

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
