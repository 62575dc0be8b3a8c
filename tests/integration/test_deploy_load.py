"""Zero downtime, measured: constant load through the stack's nginx while a project is
deployed three times, one deploy fails and rolls back, and a backup is restored. Not one
request may fail.

Load (bench/loadgen.py): 4 keep-alive clients and 2 clients opening a new connection per
request, each at a constant rate, sending GET /, GET /api/version and POST /api/items
(which writes to the project's database), bounded in time.
"""

import time

import pytest
from deploy_support import demo_images, explain, load_on, projects  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration

MAX_SECONDS = 150        # the load stops by itself even if a deploy hangs


def test_no_request_fails_across_deploys_a_rollback_and_a_restore(projects):
    project = projects()
    first = project.deploy("v1")
    assert first.ok, first.error
    outcomes = []
    timeline = [(time.monotonic(), "load starts")]
    with load_on(project, MAX_SECONDS) as load:
        time.sleep(1)
        for tag in ("v2", "broken-smoke", "v3", "v2", "restore"):
            timeline.append((time.monotonic(), f"{tag} starts"))
            # the restore goes back to the newest backup: the one taken while v3 was live
            outcome = project.restore() if tag == "restore" else project.deploy(tag)
            timeline += [(at, f"  {line}") for at, line in outcome.timed if line.lstrip().startswith("[")]
            outcomes.append((tag, outcome.ok, outcome.error))
        time.sleep(1)
        ended_by_deadline = time.monotonic() >= load.deadline
    result = load.result
    print(f"load: {result.ok} requests answered, {result.failed} failed {dict(result.reasons)}; "
          f"versions seen {dict(result.versions)}; p99 latency {result.percentile(0.99) * 1000:.0f} ms")
    assert [(tag, ok) for tag, ok, _ in outcomes] == [("v2", True), ("broken-smoke", False), ("v3", True),
                                                      ("v2", True), ("restore", True)], outcomes
    assert not ended_by_deadline, "the deploys outlasted the load: requests during the last ones were not measured"
    assert result.failed == 0, f"{result.failed} failed requests: {dict(result.reasons)}\n" + \
        explain(project, load, timeline)
    assert result.ok > 1000
    assert {"v1", "v2", "v3"} <= set(result.versions), result.versions
    assert "broken-smoke" not in result.versions, "user traffic reached the candidate that failed its smoke test"
    assert project.serving() == ("v3", "v3")
    history = project.manifest()["deployment_history"]
    assert [entry["status"] for entry in history] == ["success"] * 3 + ["rolled_back"] + ["success"] * 2
    assert history[0]["restored_from"] == history[1]["backup"], history[:2]   # newest first


def test_apps_that_ignore_or_rush_sigterm_are_replaced_without_a_failed_request(projects):
    """The switch drains the old container before it is stopped: new connections are refused (and
    retried by nginx on the new one), the requests in flight finish. So an app whose PID 1 ignores
    SIGTERM is killed a second after the drain, not after Docker's 10 s stop timeout, and one that
    exits at once on SIGTERM has nothing left in flight to cut."""
    project = projects()
    assert project.deploy("v1").ok
    timeline = [(time.monotonic(), "load starts")]
    switch_seconds = {}
    with load_on(project, MAX_SECONDS) as load:
        time.sleep(1)
        # each tag replaces the one before: ignore-term and drop-on-term are the old side once
        for tag in ("ignore-term", "v3", "drop-on-term", "v2"):
            timeline.append((time.monotonic(), f"{tag} starts"))
            outcome = project.deploy(tag)
            assert outcome.ok, outcome.error
            timeline += [(at, f"  {line}") for at, line in outcome.timed if line.lstrip().startswith("[")]
            switch_seconds[tag] = next(step["seconds"] for step in outcome.entry["steps"]
                                       if step["name"] == "switch traffic")
        time.sleep(1)
    result = load.result
    print(f"load: {result.ok} answered, {result.failed} failed; switch seconds {switch_seconds}; "
          f"p99 {result.percentile(0.99) * 1000:.0f} ms")
    assert result.failed == 0, f"{result.failed} failed requests: {dict(result.reasons)}\n" + \
        explain(project, load, timeline)
    assert {"ignore-term", "v3", "drop-on-term", "v2"} <= set(result.versions), result.versions
    # v3 replaced the app that ignores SIGTERM: no 10 s stop timeout on the critical path
    assert switch_seconds["v3"] < 8, switch_seconds
