"""The deploy pipeline for real: registry pulls, candidate containers, migrations in the
session stack's PostgreSQL, traffic through the stack's nginx, manifests and backups on disk.

Each test works on its own throw-away project (deploy_support.DemoProject), deployed from
the demo images in the local registry; all of it is removed afterwards.
"""

import json
import re
import threading
import time
from dataclasses import dataclass

import pytest
from deploy_support import (ENGINE, REGISTRY, demo_images, module_projects, no_candidates, projects, run,  # noqa: F401
                            wait_for)

from platform_deploy.deploy import switch
from platform_deploy.errors import PlatformError

pytestmark = pytest.mark.integration

SEED_KEYS = {"version", "deployed_at", "deployed_by", "git_sha", "backup", "images"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_first_and_second_deploy_go_live_with_manifest_migrations_and_backup(projects):
    project = projects()
    first = project.deploy("v1")
    assert first.ok, first.error
    assert first.entry["backup"] is None  # nothing was live to back up
    assert project.serving() == ("v1", "v1")
    assert project.revision() == "0001"
    v1_ids = {name: c["id"] for name, c in project.containers().items()}
    assert sorted(v1_ids) == [project.live_name("backend"), project.live_name("frontend")]

    second = project.deploy("v2")
    assert second.ok, second.error
    assert project.serving() == ("v2", "v2")
    assert project.revision() == "0002"

    live = project.containers()
    assert sorted(live) == [project.live_name("backend"), project.live_name("frontend")]
    assert all(c["status"] == "running" for c in live.values())
    assert live[project.live_name("backend")]["image"] == f"{REGISTRY}/demo-backend:v2"
    assert not set(c["id"] for c in live.values()) & set(v1_ids.values()), "v1 containers still there"

    manifest = project.manifest()
    assert manifest["project"] == project.name and manifest["environment"] == "production"
    current = manifest["current_deployment"]
    assert SEED_KEYS <= set(current)
    assert current["version"] == "v2" and current["status"] == "success"
    assert TIMESTAMP.match(current["deployed_at"])
    assert current["images"] == {"backend": f"{REGISTRY}/demo-backend:v2",
                                 "frontend": f"{REGISTRY}/demo-frontend:v2"}
    history = manifest["deployment_history"]
    assert [h["version"] for h in history] == ["v2", "v1"]
    assert [h["status"] for h in history] == ["success", "success"]
    migrations = [(h["migrations"][0]["before"], h["migrations"][0]["after"]) for h in reversed(history)]
    assert migrations == [(None, "0001"), ("0001", "0002")]

    backup = current["backup"]
    assert backup and backup.startswith("backup_")
    metas = project.backup_metas()
    assert list(metas) == [backup]
    meta = metas[backup]
    assert meta["project"] == project.name and meta["environment"] == "production"
    for role in ("backend", "frontend"):
        tag = f"{REGISTRY}/demo-{role}:{backup}-production"
        assert meta["images"][role]["image"] == tag
        inspected = json.loads(run(["docker", "image", "inspect", tag]).stdout)
        assert inspected[0]["Id"] == meta["images"][role]["image_id"]
        assert meta["images"][role]["was"].endswith(":v1")
    assert no_candidates(project)


# -- failures roll back -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def at_v1(module_projects):
    """A project serving v1 in production (database at 0001); the failure tests deploy over it in turn."""
    project = module_projects()
    outcome = project.deploy("v1")
    assert outcome.ok, outcome.error
    return project


def assert_still_v1(project, before: dict, status: str, failed_step: str | None):
    """The failed deploy left v1 serving from the same containers, the manifest right, the database at 0001."""
    assert project.serving() == ("v1", "v1")
    assert {name: c["id"] for name, c in project.containers().items()} == before["ids"], \
        "the live containers were replaced or a candidate was left behind"
    assert all(c["status"] == "running" for c in project.containers().values())
    assert project.revision() == "0001"
    manifest = project.manifest()
    assert manifest["current_deployment"]["deploy_id"] == before["current"]
    last = manifest["deployment_history"][0]
    assert last == manifest["last_attempt"]
    assert last["status"] == status, last
    assert last["failure"]
    if failed_step is not None:
        failed = [step for step in last["steps"] if step["status"] == "failed"]
        assert [step["name"] for step in failed] == [failed_step], last["steps"]
    assert len(manifest["deployment_history"]) == before["history"] + 1
    assert project.journal() is None
    return last


def snapshot(project) -> dict:
    manifest = project.manifest()
    return {"ids": {name: c["id"] for name, c in project.containers().items()},
            "current": manifest["current_deployment"]["deploy_id"],
            "history": len(manifest["deployment_history"])}


def test_failed_preflight_aborts_before_anything_changes(at_v1):
    before = snapshot(at_v1)
    backups = set(at_v1.backup_metas())
    at_v1.write_env("production", omit=("SECRET_KEY",))
    try:
        outcome = at_v1.deploy("v2")
    finally:
        at_v1.write_env("production")
    assert not outcome.ok
    assert "pre-flight failed (environment variables)" in outcome.error and "--force" in outcome.error
    assert "missing SECRET_KEY" in outcome.output
    last = assert_still_v1(at_v1, before, "aborted", "pre-flight")
    assert [step["name"] for step in last["steps"]] == ["pre-flight"]
    assert last["rollback"] == []
    assert set(at_v1.backup_metas()) == backups, "an aborted deploy made a backup"


def test_pull_of_a_missing_tag_rolls_back(at_v1):
    before = snapshot(at_v1)
    outcome = at_v1.deploy("no-such-tag")
    assert not outcome.ok
    assert "cannot pull" in outcome.error and "no-such-tag" in outcome.error
    assert_still_v1(at_v1, before, "rolled_back", "pull")


def test_failed_migration_rolls_back_and_leaves_the_database_as_it_was(at_v1):
    before = snapshot(at_v1)
    outcome = at_v1.deploy("broken-migration")
    assert not outcome.ok
    assert "alembic upgrade head" in outcome.error
    last = assert_still_v1(at_v1, before, "rolled_back", "migrations")
    assert last["migrations"][0]["before"] == "0001"


@pytest.mark.parametrize("tag", ["crash", "broken-health"])
def test_unhealthy_candidate_rolls_back_and_reverses_its_migration(at_v1, tag):
    before = snapshot(at_v1)
    outcome = at_v1.deploy(tag)
    assert not outcome.ok
    last = assert_still_v1(at_v1, before, "rolled_back", None)
    failed = [step["name"] for step in last["steps"] if step["status"] == "failed"]
    if tag == "broken-health":
        # The migration to 0002 went through, then health failed: the rollback downgraded to 0001.
        assert failed == ["health"], last["steps"]
        assert "unhealthy" in outcome.error
        assert (last["migrations"][0]["before"], last["migrations"][0]["after"]) == ("0001", "0002")
        assert "database downgraded to 0001" in last["rollback"]
    else:
        # A crashing backend fails wherever it is first needed: its migration exec or the health wait.
        assert failed in (["migrations"], ["health"]), last["steps"]


def test_failed_smoke_test_rolls_back_before_traffic_moves(at_v1):
    before = snapshot(at_v1)
    outcome = at_v1.deploy("broken-smoke")
    assert not outcome.ok
    assert "GET /health: 503" in outcome.error
    last = assert_still_v1(at_v1, before, "rolled_back", "smoke tests")
    assert "database downgraded to 0001" in last["rollback"]
    assert not [step for step in last["steps"] if step["name"] == "switch traffic"]


def test_force_goes_past_a_failed_preflight_and_is_recorded(at_v1):
    at_v1.write_env("production", omit=("SECRET_KEY",))
    try:
        outcome = at_v1.deploy("v2", force=True)
    finally:
        at_v1.write_env("production")
    assert outcome.ok, outcome.error
    assert outcome.entry["forced"] is True
    assert at_v1.serving() == ("v2", "v2")
    current = at_v1.manifest()["current_deployment"]
    assert current["forced"] is True and current["version"] == "v2"
    assert current["steps"][0]["detail"] == "FORCED past: environment variables"


def test_skip_backup_deploys_without_a_backup_and_records_it(at_v1):
    backups = set(at_v1.backup_metas())
    outcome = at_v1.deploy("v3", skip_backup=True)
    assert outcome.ok, outcome.error
    assert at_v1.serving() == ("v3", "v3")
    assert set(at_v1.backup_metas()) == backups
    current = at_v1.manifest()["current_deployment"]
    assert current["skip_backup"] is True and current["backup"] is None and current["version"] == "v3"
    assert no_candidates(at_v1)


# -- one deploy at a time ---------------------------------------------------------------------------

def test_two_deploys_of_the_same_environment_at_once_one_is_refused(projects):
    project = projects()
    barrier = threading.Barrier(2)
    results = {}

    def deploy(key):
        barrier.wait()
        try:
            results[key] = project.deploy("v1")
        except PlatformError as error:  # the lock refuses before the deploy starts
            results[key] = error

    threads = [threading.Thread(target=deploy, args=(key,)) for key in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    refused = [r for r in results.values() if isinstance(r, PlatformError)]
    done = [r for r in results.values() if not isinstance(r, PlatformError)]
    assert len(refused) == 1 and len(done) == 1, results
    message = str(refused[0])
    assert f"{project.name}/production is locked by pid " in message and "wait for that deploy" in message
    assert done[0].ok, done[0].error
    assert project.serving() == ("v1", "v1")
    assert len(project.manifest()["deployment_history"]) == 1


# -- the switch: a stopped container's address -----------------------------------------------------

@dataclass(frozen=True)
class LiveBackend:
    name: str
    network: str
    address: str
    port: int
    nginx: str
    helpers: switch.Helpers


def live_backend(project) -> LiveBackend:
    """Deploy v1 and say where its backend listens, with the switch's helpers for it."""
    assert project.deploy("v1").ok
    name, nginx = project.live_name("backend"), project.settings.nginx_container
    [network] = project.containers()[name]["networks"]
    helpers = switch.helpers_for(ENGINE, project.settings, {"platform.project": project.name,
                                                            "platform.environment": "production",
                                                            "platform.role": switch.HELPER_ROLE})
    return LiveBackend(name, network, ENGINE.inspect(name).networks[network],
                       project.entry()["containers"]["backend"]["port"], nginx, helpers)


def test_nginx_is_refused_a_closed_containers_address_at_once_before_and_after_it_stops(projects):
    """The hold beside nginx: from before the stop until it is lifted, a new connection from nginx to the
    address is refused at once; there is no moment in which it could wait for a SYN retransmit."""
    project = projects()
    backend = live_backend(project)
    closed = switch.close(ENGINE, backend.network, {backend.name: backend.port}, backend.helpers, time.time())
    try:
        assert closed.hold is not None and closed.undrained == ()
        assert ENGINE.inspect(backend.name).running and refused_at_once(backend)
        ENGINE.stop(backend.name, timeout=1)
        assert refused_at_once(backend)   # its address is gone now: the hold answers for it
    finally:
        switch.lift(ENGINE, closed.hold)
        ENGINE.start(backend.name)
    wait_for(lambda: ENGINE.inspect(closed.hold) is None, timeout=30, what="the hold to remove itself")
    rules = ENGINE.run_beside(backend.nginx, backend.helpers.image, ["iptables", "-S", "OUTPUT"], {},
                              capabilities=("NET_ADMIN",))
    assert rules.exit_code == 0 and "platform-hold" not in rules.output   # the hold took its rule out
    assert sorted(project.containers()) == [backend.name, project.live_name("frontend")]
    wait_for(lambda: project.serves("v1"), timeout=60, what="v1 serving again")


def test_a_drained_container_refuses_new_connections_until_reopened(projects):
    """The drain closes a running container to new connections at once (nginx retries them elsewhere)."""
    project = projects()
    backend = live_backend(project)
    assert switch.drain(ENGINE, backend.name, backend.port, backend.helpers, timeout=5, not_before=time.time())
    assert ENGINE.inspect(backend.name).running and refused_at_once(backend)
    assert switch.reopen(ENGINE, backend.name, backend.port, backend.helpers)
    answered = run(["docker", "exec", backend.nginx, "curl", "-s", "-o", "/dev/null", "-m", "3", "-w", "%{http_code}",
                    f"http://{backend.address}:{backend.port}/health"])
    assert answered.stdout == "200", answered
    assert sorted(project.containers()) == [backend.name, project.live_name("frontend")]   # no helper left


def refused_at_once(backend: LiveBackend) -> bool:
    tried = run(["docker", "exec", backend.nginx, "curl", "-s", "-o", "/dev/null", "-m", "3", "-w", "%{time_total}",
                 f"http://{backend.address}:{backend.port}/health"])
    assert tried.returncode == 7, tried   # refused, not timed out (28)
    return float(tried.stdout) < 0.5


# -- staging and production are isolated ------------------------------------------------------------

PROBE = """
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor
def attempt(target):
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        return "connected"
    except OSError as error:
        return type(error).__name__
targets = sys.argv[1:]
with ThreadPoolExecutor(len(targets)) as pool:
    print(json.dumps(dict(zip(targets, pool.map(attempt, targets)))))
"""


def probe_from(container: str, targets: list[str]) -> dict:
    result = run(["docker", "exec", container, "python3", "-c", PROBE, *targets], timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_staging_and_production_cannot_reach_each_other_but_both_reach_postgres(projects):
    project = projects()
    for env in ("production", "staging"):
        outcome = project.deploy("v1", env=env)
        assert outcome.ok, outcome.error
        assert project.serving(env) == ("v1", "v1")
    found = project.containers()
    by_env = {env: {n: c for n, c in found.items() if c["env"] == env} for env in ("production", "staging")}
    for env, of_env in by_env.items():
        assert sorted(of_env) == [project.live_name("backend", env), project.live_name("frontend", env)]
        assert all(c["networks"] == [f"{project.name}-{env}"] for c in of_env.values()), of_env
    postgres = f"{project.settings.postgres_container}:5432"
    for env, other in (("production", "staging"), ("staging", "production")):
        targets = []
        for name in by_env[other]:
            port = 3000 if "-backend-" in name else 80
            address = run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                           name]).stdout.strip()
            assert address, name
            targets += [f"{name}:{port}", f"{address}:{port}"]
        for source in by_env[env]:
            results = probe_from(source, targets + [postgres])
            assert results.pop(postgres) == "connected", f"{source} cannot reach {postgres}"
            reached = [target for target, how in results.items() if how == "connected"]
            assert not reached, f"{source} ({env}) reached {other} containers: {reached}"
    # And each environment's database holds only its own migrations.
    assert project.revision("production") == project.revision("staging") == "0001"
