"""status views, metrics and Prometheus output from synthetic manifests and backup metadata (no Docker)."""

import json
import re
from dataclasses import replace

import pytest
from fakes import FakeEngine, names

from platform_deploy.config.load import parse_registry
from platform_deploy.errors import PlatformError
from platform_deploy.engine import EngineUnavailable, ImageInfo, NodeState, ServiceState, TaskState
from platform_deploy.state.records import Attempt, Manifest
from platform_deploy.settings import Settings
from platform_deploy.status import data, health, metrics, prometheus, show, text
from seed import DEPLOYMENT_EXAMPLE

PROJECTS_YML = DEPLOYMENT_EXAMPLE.encode()
REACHABLE = {"reachable": True, "containers": [
    {"role": "backend", "container": "filter-ical-backend-production", "status": "running", "health": "healthy"},
    {"role": "frontend", "container": "filter-ical-frontend-production", "status": "running", "health": None},
]}


def entry(number: int, status: str = "success", **changes) -> dict:
    """A manifest entry shaped like the pipeline's; ``number`` orders them (higher is newer)."""
    failed = status not in ("success", "interrupted_completed")
    steps = [{"step": "1", "name": "pre-flight", "status": "ok", "seconds": 0.5, "detail": "4 checks"},
             {"step": "5", "name": "health", "status": "failed" if failed else "ok", "seconds": 60.0,
              "detail": "backend: unhealthy" if failed else "backend: healthy"}]
    if not failed:
        steps.append({"step": "6", "name": "switch traffic", "status": "ok", "seconds": 1.2, "detail": ""})
    base = {
        "deploy_id": f"2025010{number}120000-ab{number:02d}",
        "version": f"v{number}",
        "deployed_at": f"2025-01-0{number}T12:00:00Z",
        "deployed_by": "github-actions",
        "git_sha": f"abc{number}",
        "backup": f"backup_2025010{number}_115900",
        "images": {"backend": f"ghcr.io/user/filter-ical-backend:v{number}",
                   "frontend": f"ghcr.io/user/filter-ical-frontend:v{number}"},
        "image_digests": {"backend": f"ghcr.io/user/filter-ical-backend@sha256:{number:064x}"},
        "status": status,
        "duration_seconds": float(number * 10),
        "steps": steps,
        "migrations": [],
        "forced": False,
        "skip_backup": False,
        "failure": "health failed: filter-ical-backend: unhealthy" if failed else None,
        "rollback": ["removed filter-ical-backend-production-next-ab01"] if failed else [],
    }
    return {**base, **changes}


def typed(manifest: dict) -> Manifest:
    return Manifest.from_json(manifest, "manifest.json", manifest["project"], manifest["environment"])


def attempts(entries) -> tuple[Attempt, ...]:
    return tuple(Attempt.from_json(entry) for entry in entries)


def make_manifest(*entries, environment="production") -> dict:
    """Entries given newest first, as the manifest keeps them."""
    live = next((e for e in entries if e["status"] in ("success", "interrupted_completed")), None)
    return {"project": "filter-ical", "environment": environment, "schema_version": 2,
            "current_deployment": live, "last_attempt": entries[0] if entries else None,
            "deployment_history": list(entries)}


@pytest.fixture
def registry():
    return parse_registry(PROJECTS_YML)


@pytest.fixture
def settings(tmp_path):
    return Settings(root=tmp_path / "root", deployments_dir=tmp_path / "deployments", backups_dir=tmp_path / "backups")


def write_manifest(settings, manifest, project="filter-ical", environment="production"):
    directory = settings.deployments_dir / project / environment
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "manifest.json").write_text(json.dumps(manifest))


def write_meta(settings, name, meta=None, project="filter-ical", environment="production"):
    """A backup as backup.create leaves it: payload files and a .meta with their sizes (``meta`` overrides)."""
    directory = settings.backups_dir / project / environment
    (directory / name / "config").mkdir(parents=True, exist_ok=True)
    (directory / name / "config" / "projects.entry.yml").write_text("filter-ical: {}\n")
    if meta is None:
        meta = {"name": name, "created_at": "2025-01-05T11:59:00Z", "created_by": "github-actions",
                "reason": "deploy",
                "images": {"backend": {"image": f"ghcr.io/user/filter-ical-backend:{name}-{environment}",
                                       "was": "ghcr.io/user/filter-ical-backend:v4"}},
                "files": {"config/projects.entry.yml": {"bytes": 16, "sha256": "0" * 64}}}
    (directory / f"{name}.meta").write_text(meta if isinstance(meta, str) else json.dumps(meta))


# Default view ---------------------------------------------------------------------------------------

def test_current_view_text_after_a_successful_deploy():
    shaped = data.current_view(typed(make_manifest(entry(5))), {"database": {"database": "filter_ical",
                                                                     "file": "database.sql.gz"}}, REACHABLE)
    assert text.current(shaped) == "\n".join([
        "filter-ical/production",
        "  deployed at   2025-01-05T12:00:00Z by github-actions",
        "  version       v5",
        "  git sha       abc5",
        "  backup        backup_20250105_115900",
        "  database      filter_ical (database.sql.gz)",
        f"  images        backend   ghcr.io/user/filter-ical-backend:v5  "
        f"ghcr.io/user/filter-ical-backend@sha256:{5:064x}",
        "                frontend  ghcr.io/user/filter-ical-frontend:v5  (no digest)",
        "  last attempt  success in 50.0s (v5, 2025-01-05T12:00:00Z)",
        "  health        filter-ical-backend-production: running, healthy",
        "                filter-ical-frontend-production: running, no healthcheck",
    ])


def test_current_view_shows_the_failed_step_reason_and_rollback_of_the_last_attempt():
    shaped = data.current_view(typed(make_manifest(entry(6, "rolled_back"), entry(5))), None, REACHABLE)
    lines = text.current(shaped).splitlines()
    assert "  version       v5" in lines
    assert "  last attempt  rolled back in 60.0s (v6, 2025-01-06T12:00:00Z)" in lines
    assert "                failed at step 5 health: health failed: filter-ical-backend: unhealthy" in lines
    assert "                rollback: removed filter-ical-backend-production-next-ab01" in lines
    assert not any(line.lstrip().startswith("database") for line in lines)


def test_current_view_before_anything_went_live():
    shaped = data.current_view(typed(make_manifest(entry(1, "aborted", backup=None))), None,
                               {"reachable": True, "containers": [
                                   {"role": "backend", "container": "filter-ical-backend-production",
                                    "status": None, "health": None}]})
    assert shaped["current"] is None
    lines = text.current(shaped).splitlines()
    assert lines[1] == "  deployed      nothing has gone live yet"
    assert "  last attempt  aborted in 10.0s (v1, 2025-01-01T12:00:00Z)" in lines
    assert lines[-1] == "  health        filter-ical-backend-production: absent"


def test_current_view_says_health_is_unknown_when_docker_is_unreachable():
    shaped = data.current_view(typed(make_manifest(entry(5))), None, {"reachable": False, "containers": []})
    assert text.current(shaped).splitlines()[-1] == "  health        health unknown (Docker not reachable)"


def test_a_seed_manifest_without_our_fields_still_shows():
    seed = {"project": "filter-ical", "environment": "production",
            "current_deployment": {"version": "latest", "deployed_at": "2025-01-06T12:00:00Z",
                                   "deployed_by": "github-actions", "git_sha": "abc123def456",
                                   "backup": "backup_20250106_120000",
                                   "images": {"backend": "ghcr.io/user/filter-ical-backend:latest"}},
            "deployment_history": []}
    lines = text.current(data.current_view(typed(seed), None, REACHABLE)).splitlines()
    assert "  images        backend  ghcr.io/user/filter-ical-backend:latest  (no digest)" in lines
    assert not any("last attempt" in line for line in lines)


def test_database_backup_phrases():
    assert data.database_backup(None) is None
    assert data.database_backup({"images": {}}) is None
    assert data.database_backup({"database": "filter_ical.sql.gz"}) == "filter_ical.sql.gz"
    assert data.database_backup({"database": {"name": "filter_ical"}}) == "filter_ical"
    assert data.database_backup({"database": {"size": 3}}) == "yes"


# History --------------------------------------------------------------------------------------------

def test_history_lists_every_attempt_newest_first_with_failures():
    manifest = make_manifest(entry(7, "rollback_failed"), entry(6, "rolled_back"), entry(5),
                             entry(4, "interrupted_rolled_back", failure="deploy process stopped during start"))
    lines = text.history(data.history_view(typed(manifest))).splitlines()
    assert lines[0] == "filter-ical/production: 4 attempt(s) kept, newest first (* = live)"
    header, *rows = lines[1:]
    assert header.split() == ["DEPLOYED", "AT", "VERSION", "STATUS", "DURATION", "BY", "FAILURE"]
    assert [row.split()[1] if row.lstrip().startswith("*") else row.split()[0] for row in rows] == [
        "2025-01-07T12:00:00Z", "2025-01-06T12:00:00Z", "2025-01-05T12:00:00Z", "2025-01-04T12:00:00Z"]
    assert "rollback failed" in rows[0] and "step 5 health: health failed" in rows[0]
    assert rows[2].lstrip().startswith("*  2025-01-05T12:00:00Z  v5")
    assert rows[2].rstrip().endswith("github-actions")
    assert "interrupted rolled back" in rows[3] and "deploy process stopped during start" in rows[3]


def test_history_json_shape():
    shaped = data.history_view(typed(make_manifest(entry(6, "rolled_back"), entry(5))))
    decoded = json.loads(show.render("history", shaped, as_json=True))
    assert decoded["project"] == "filter-ical" and decoded["environment"] == "production"
    assert [item["version"] for item in decoded["history"]] == ["v6", "v5"]
    assert decoded["history"][0] == {
        "deploy_id": "20250106120000-ab06", "deployed_at": "2025-01-06T12:00:00Z",
        "deployed_by": "github-actions", "version": "v6", "status": "rolled_back", "duration_seconds": 60.0,
        "failed_step": {"step": "5", "name": "health", "detail": "backend: unhealthy"},
        "failure": "health failed: filter-ical-backend: unhealthy",
        "rollback": ["removed filter-ical-backend-production-next-ab01"], "current": False}
    assert decoded["history"][1]["current"] is True


# Rollback -------------------------------------------------------------------------------------------

def test_rollback_lists_restorable_backups_newest_first_with_commands(settings, registry):
    write_manifest(settings, make_manifest(entry(5)))
    for name in ("backup_20250105_115900", "backup_20250105_115900_2", "backup_20250105_115900_10",
                 "backup_20250104_115900"):
        write_meta(settings, name)
    write_meta(settings, "backup_latest")
    shaped = show.view(FakeEngine(), settings, registry, "filter-ical", "production", "rollback")
    assert [b["name"] for b in shaped["backups"]] == [
        "backup_20250105_115900_10", "backup_20250105_115900_2", "backup_20250105_115900", "backup_20250104_115900"]
    assert shaped["not_restorable"] == 0
    lines = text.rollback(shaped).splitlines()
    assert lines[:5] == [
        "filter-ical/production: 4 backup(s) can be restored, newest first",
        "  backup_20250105_115900_10  2025-01-05T11:59:00Z by github-actions (deploy), not verified",
        "    contains: backend ghcr.io/user/filter-ical-backend:v4",
        "    source lib/functions/backup.sh; restore_backup filter-ical production backup_20250105_115900_10",
        "    invoke backup.restore --project filter-ical --env production --backup backup_20250105_115900_10",
    ]


def test_json_keys_and_values_are_printable(settings, registry):
    """A backup directory is untrusted (docs/SECURITY.md): its .meta's names reach --json as keys too."""
    name = "backup_20250105_115900"
    write_manifest(settings, make_manifest(entry(5)))
    write_meta(settings, name)
    meta = json.loads((settings.backups_dir / "filter-ical" / "production" / f"{name}.meta").read_text())
    write_meta(settings, name, {**meta, "reason": "deploy\u202e\x1b[2J",
                                "images": {"back\x1b]0;owned\x07end\u202e": "img\u200b:v4"}})
    shaped = show.view(FakeEngine(), settings, registry, "filter-ical", "production", "rollback")
    decoded = json.loads(show.render("rollback", shaped, as_json=True))
    assert decoded["backups"][0]["images"] == {"backend": "img:v4"}
    assert decoded["backups"][0]["reason"] == "deploy"


def test_rollback_leaves_out_backups_that_restore_would_refuse(settings, registry):
    write_manifest(settings, make_manifest(entry(5)))
    good = "backup_20250101_115900"
    write_meta(settings, good)
    meta = json.loads((settings.backups_dir / "filter-ical" / "production" / f"{good}.meta").read_text())
    write_meta(settings, "backup_20250102_115900", "{not json")
    write_meta(settings, "backup_20250103_115900", {key: value for key, value in meta.items() if key != "files"})
    write_meta(settings, "backup_20250104_115900", {**meta, "verification": {"at": "x", "ok": False}})
    write_meta(settings, "backup_20250105_115900", {**meta, "files": {"config/gone.yml": {"bytes": 1}}})
    write_meta(settings, "backup_20250106_115900", {**meta, "database": {"database": "filter_ical",
                                                                         "file": "database/filter_ical.dump"},
                                                    "verification": {"at": "2025-01-06T12:00:00Z", "ok": True}})
    shaped = show.view(FakeEngine(), settings, registry, "filter-ical", "production", "rollback")
    assert [b["name"] for b in shaped["backups"]] == ["backup_20250106_115900", good]
    lines = text.rollback(shaped).splitlines()
    assert lines[0] == ("filter-ical/production: 2 backup(s) can be restored, newest first; 4 other backup(s) "
                        "cannot be restored (see invoke backup.list --project filter-ical --env production)")
    assert lines[1].endswith("(deploy), ok 2025-01-06T12:00:00Z")
    assert lines[2] == ("    contains: backend ghcr.io/user/filter-ical-backend:v4, "
                        "database filter_ical (database/filter_ical.dump)")
    assert lines[5] == "    (add --with-database to either command to restore the database too)"


def test_rollback_without_backups_says_where_it_looked(settings, registry):
    write_manifest(settings, make_manifest(entry(1, backup=None)))
    shaped = show.view(FakeEngine(), settings, registry, "filter-ical", "production", "rollback")
    assert text.rollback(shaped) == (f"filter-ical/production: no backups to restore in "
                                     f"{settings.backups_dir / 'filter-ical' / 'production'}")


def test_rollback_lists_backups_even_when_the_manifest_is_gone(settings, registry):
    write_meta(settings, "backup_20250105_115900")
    shaped = show.view(FakeEngine(), settings, registry, "filter-ical", "production", "rollback")
    assert [b["name"] for b in shaped["backups"]] == ["backup_20250105_115900"]


# Reading, names, never deployed ---------------------------------------------------------------------

@pytest.mark.parametrize("which", ["current", "history", "rollback"])
def test_never_deployed_is_one_line(settings, registry, which):
    with pytest.raises(PlatformError) as caught:
        show.view(FakeEngine(), settings, registry, "filter-ical", "staging", which)
    manifest_path = settings.deployments_dir / "filter-ical" / "staging" / "manifest.json"
    assert str(caught.value) == (f"filter-ical/staging has never been deployed (no {manifest_path}); "
                                 "deploy it with ./lib/deploy.sh filter-ical staging")


def test_unknown_project_and_environment_list_the_valid_ones(settings, registry):
    with pytest.raises(PlatformError, match=r"^config/projects.yml: no project 'nope'; valid: filter-ical$"):
        show.view(FakeEngine(), settings, registry, "nope", "production")
    with pytest.raises(PlatformError, match=r"^project 'filter-ical' has no environment 'prod'; "
                                            r"valid: production, staging$"):
        show.view(FakeEngine(), settings, registry, "filter-ical", "prod")


def test_a_damaged_manifest_is_a_one_line_error(settings, registry):
    directory = settings.deployments_dir / "filter-ical" / "production"
    directory.mkdir(parents=True)
    (directory / "manifest.json").write_text('{"project": ')
    with pytest.raises(PlatformError, match=r"manifest.json is not valid JSON; the next deploy keeps it"):
        show.view(FakeEngine(), settings, registry, "filter-ical", "production")


def test_default_view_reads_the_backup_meta_and_live_health(settings, registry):
    write_manifest(settings, make_manifest(entry(5)))
    write_meta(settings, "backup_20250105_115900", {"images": {}, "database": {"database": "filter_ical"}})
    engine = FakeEngine()
    engine.add_image("ghcr.io/user/filter-ical-backend:v5", health="unhealthy")
    engine.add_container("filter-ical-backend-production", "ghcr.io/user/filter-ical-backend:v5", "n")
    engine.calls.clear()
    shaped = show.view(engine, settings, registry, "filter-ical", "production")
    assert names(engine.called("inspect")) == ["filter-ical-backend-production", "filter-ical-frontend-production"]
    assert shaped["current"]["database_backup"] == "filter_ical"
    assert shaped["health"] == {"reachable": True, "containers": [
        {"role": "backend", "container": "filter-ical-backend-production", "status": "running",
         "health": "unhealthy"},
        {"role": "frontend", "container": "filter-ical-frontend-production", "status": None, "health": None}]}


@pytest.mark.parametrize("error", [EngineUnavailable("cannot reach the Docker engine"),
                                   EngineUnavailable("lost the connection to the Docker engine")])
def test_health_is_unknown_when_docker_fails(registry, error):
    engine = FakeEngine()
    engine.fail_on("inspect", error)
    assert health.live_health(engine, registry.project("filter-ical"), "production") == {"reachable": False,
                                                                                        "containers": []}


def test_current_view_json_shape(settings, registry):
    write_manifest(settings, make_manifest(entry(6, "rolled_back"), entry(5)))
    shaped = show.view(FakeEngine(), settings, registry, "filter-ical", "production")
    decoded = json.loads(show.render("current", shaped, as_json=True))
    assert set(decoded) == {"project", "environment", "maintenance", "current", "last_attempt", "health"}
    assert decoded["maintenance"] is None
    assert decoded["current"]["version"] == "v5"
    assert decoded["current"]["images"] == [
        {"role": "backend", "image": "ghcr.io/user/filter-ical-backend:v5",
         "digest": f"ghcr.io/user/filter-ical-backend@sha256:{5:064x}"},
        {"role": "frontend", "image": "ghcr.io/user/filter-ical-frontend:v5", "digest": None}]
    assert decoded["last_attempt"]["status"] == "rolled_back"
    assert decoded["last_attempt"]["failed_step"]["name"] == "health"


class Cluster:
    """A swarm manager as `status` reads it, from hand-made records; it records each call."""

    def __init__(self, services, tasks, nodes, images, error=None):
        self.services, self.tasks, self.node_states, self.images = services, tasks, nodes, images
        self.error, self.calls = error, []

    def _call(self, *call):
        self.calls.append(call)
        if self.error:
            raise self.error

    def inspect(self, name):
        self._call("inspect", name)

    def nodes(self):
        self._call("nodes")
        return self.node_states

    def service_tasks(self, labels):
        self._call("service_tasks", labels)
        return self.tasks

    def service(self, name):
        self._call("service", name)
        return self.services.get(name)

    def image(self, reference):
        self._call("image", reference)
        return self.images.get(reference)


SWARM_IMAGE = "ghcr.io/user/filter-ical-backend:v5@sha256:" + "5" * 64


def swarm_cluster(error=None):
    backend = "filter-ical-backend-production"
    nodes = [NodeState(f"n{n}", f"swarmlab-{n}", "worker", False, "active", "ready", "", "") for n in (1, 2, 3)]
    tasks = [TaskState(backend, 1, "n1", "running", "running"), TaskState(backend, 2, "n2", "starting", "running"),
             TaskState(backend, 3, "n3", "failed", "running", error="task: non-zero exit (1)")]
    live = ServiceState("id", backend, 7, {}, SWARM_IMAGE, 3)
    return Cluster({backend: live}, tasks, nodes, {SWARM_IMAGE: ImageInfo("sha256:5", None, health_command=("true",))},
                   error)


def test_on_a_swarm_health_is_each_roles_service_with_its_tasks_per_node_in_the_json_too(settings, registry):
    write_manifest(settings, make_manifest(entry(5)))
    cluster = swarm_cluster()
    shaped = show.view(cluster, replace(settings, engine="swarm"), registry, "filter-ical", "production")
    assert cluster.calls == [
        ("nodes",), ("service_tasks", {"platform.project": "filter-ical", "platform.environment": "production"}),
        ("service", "filter-ical-backend-production"), ("image", SWARM_IMAGE),
        ("service", "filter-ical-frontend-production")]
    assert json.loads(show.render("current", shaped, as_json=True))["health"] == {"reachable": True, "services": [
        {"role": "backend", "service": "filter-ical-backend-production", "exists": True, "image": SWARM_IMAGE,
         "replicas": 3, "healthcheck": True, "tasks": [
             {"node": "swarmlab-1", "slot": 1, "state": "running", "health": "healthy", "error": ""},
             {"node": "swarmlab-2", "slot": 2, "state": "starting", "health": "starting", "error": ""},
             {"node": "swarmlab-3", "slot": 3, "state": "failed", "health": "failed",
              "error": "task: non-zero exit (1)"}]},
        {"role": "frontend", "service": "filter-ical-frontend-production", "exists": False, "image": None,
         "replicas": None, "healthcheck": None, "tasks": []}]}
    assert text.current(shaped).splitlines()[-5:] == [
        f"  health        filter-ical-backend-production: {SWARM_IMAGE}, 3 replica(s)",
        "                  swarmlab-1  healthy",
        "                  swarmlab-2  starting",
        "                  swarmlab-3  failed (task: non-zero exit (1))",
        "                filter-ical-frontend-production: absent"]


def test_on_the_docker_engine_health_is_still_each_container_inspected(settings, registry):
    write_manifest(settings, make_manifest(entry(5)))
    cluster = swarm_cluster()
    shaped = show.view(cluster, settings, registry, "filter-ical", "production")
    assert cluster.calls == [("inspect", "filter-ical-backend-production"),
                             ("inspect", "filter-ical-frontend-production")]
    assert set(shaped["health"]) == {"reachable", "containers"}


def test_on_a_swarm_health_is_unknown_when_the_manager_fails(registry):
    shaped = health.swarm_health(swarm_cluster(EngineUnavailable("cannot reach the Docker engine")),
                                 registry.project("filter-ical"), "production")
    assert shaped == {"reachable": False, "services": []}
    assert text.current(data.current_view(typed(make_manifest(entry(5))), None, shaped)).splitlines()[-1] == \
        "  health        health unknown (Docker not reachable)"


def test_an_environment_in_maintenance_says_so(settings, registry):
    write_manifest(settings, make_manifest(entry(5)))
    settings.maintenance_file.parent.mkdir(parents=True)
    settings.maintenance_file.write_text("filter-ical:\n  production: {message: Back at 06:00 UTC., "
                                         "since: '2026-12-02T05:00:00Z', retry_after: 300}\n")
    shaped = show.view(FakeEngine(), settings, registry, "filter-ical", "production")
    assert json.loads(show.render("current", shaped, as_json=True))["maintenance"] == {
        "since": "2026-12-02T05:00:00Z", "message": "Back at 06:00 UTC.", "retry_after": 300}
    assert text.current(shaped).splitlines()[:2] == [
        "filter-ical/production",
        "  maintenance   on since 2026-12-02T05:00:00Z (503, Retry-After 300 s), message: Back at 06:00 UTC."]
    staging = data.current_view(typed(make_manifest(entry(5), environment="staging")), None, REACHABLE)
    assert staging["maintenance"] is None and "maintenance" not in text.current(staging)


# Metrics --------------------------------------------------------------------------------------------

def test_percentile_interpolates_like_numpy():
    values = [float(v) for v in range(1, 11)]
    assert metrics.percentile(values, 0.5) == pytest.approx(5.5)
    assert metrics.percentile(values, 0.95) == pytest.approx(9.55)
    assert metrics.percentile(list(reversed(values)), 0.95) == pytest.approx(9.55)
    assert metrics.percentile([4.0], 0.95) == 4.0
    assert metrics.percentile([], 0.5) is None
    assert metrics.percentile([10.0, 20.0], 0.95) == pytest.approx(19.5)


def test_metrics_count_outcomes_rollbacks_backups_restores_and_switches():
    history = [entry(9, version="backup_20250101_115900-production", backup=None),
               entry(8, "rolled_back"), entry(7, "rollback_failed"), entry(6, "interrupted_rolled_back"),
               entry(5, "aborted", backup=None), entry(4, "interrupted_completed", duration_seconds=None),
               entry(3), entry(2, backup="backup_20250101_115900"), entry(1)]
    history[1]["steps"].append({"step": "6", "name": "switch traffic", "status": "failed", "seconds": 2.0,
                                "detail": "502"})
    m = metrics.for_manifest("filter-ical", "production", attempts(history),
                             {"backup_20250101_115900", "backup_20241231_115900"})
    assert (m.attempts, m.succeeded, m.failed, m.rollbacks) == (9, 5, 4, 3)
    assert m.success_ratio == pytest.approx(5 / 9) and m.rollback_ratio == pytest.approx(3 / 9)
    assert m.durations == (90.0, 80.0, 70.0, 60.0, 50.0, 30.0, 20.0, 10.0)
    assert m.duration_median == pytest.approx(55.0)
    assert m.duration_p95 == pytest.approx(86.5)
    assert m.backups_on_disk == 2
    # on disk: 20250101 and 20241231; in history: 20250108, 07, 06, 04, 03 and 01 (on disk too)
    assert m.backups_created == 7
    assert m.restores == 1
    assert (m.switches_ok, m.switches_failed) == (5, 1)


def test_metrics_cover_manifests_and_backup_only_environments(settings):
    write_manifest(settings, make_manifest(entry(2), entry(1)))
    write_manifest(settings, make_manifest(entry(3, "rolled_back"), environment="staging"), environment="staging")
    write_meta(settings, "backup_20250101_115900", project="other", environment="staging")
    collected = show.all_metrics(settings)
    assert [(m.project, m.environment, m.attempts) for m in collected] == [
        ("filter-ical", "production", 2), ("filter-ical", "staging", 1), ("other", "staging", 0)]
    table = text.metrics_table(collected).splitlines()
    assert table[0].split()[:3] == ["PROJECT/ENV", "ATTEMPTS", "LIVE"]
    assert table[1].split()[:5] == ["filter-ical/production", "2", "2", "(100%)", "0"]
    assert table[3].split()[:3] == ["other/staging", "0", "0"]


def test_metrics_table_without_anything():
    assert text.metrics_table([]) == "no deployments or backups recorded yet"


# Prometheus text format -----------------------------------------------------------------------------

METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(rf"^({METRIC_NAME})(?:\{{((?:[a-zA-Z_][a-zA-Z0-9_]*={LABEL_VALUE},?)*)\}})? "
                    r"([-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|NaN|[-+]?Inf))$")
LABEL = re.compile(rf"([a-zA-Z_][a-zA-Z0-9_]*)=({LABEL_VALUE})")


def parse_exposition(body: str) -> dict:
    """A strict reader of the text format: {family: {"type", "help", "samples": [(name, labels, value)]}}."""
    assert body.endswith("\n")
    families, current = {}, None
    for line in body.splitlines():
        if line.startswith("# HELP "):
            name, help_text = line[len("# HELP "):].split(" ", 1)
            assert name not in families, f"family {name} appears twice"
            families[name] = current = {"help": help_text, "type": None, "samples": []}
            current_name = name
        elif line.startswith("# TYPE "):
            name, kind = line[len("# TYPE "):].split(" ")
            assert name == current_name and current["type"] is None and not current["samples"]
            assert kind in ("counter", "gauge", "summary", "histogram", "untyped")
            current["type"] = kind
        else:
            match = SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            name, labels, value = match.groups()
            allowed = {current_name} | ({current_name + "_sum", current_name + "_count"}
                                        if current["type"] == "summary" else set())
            assert name in allowed, f"{name} outside its family {current_name}"
            decoded = {key: json.loads(raw) for key, raw in LABEL.findall(labels or "")}
            current["samples"].append((name, decoded, float(value)))
    return families


def test_prometheus_output_parses_back_with_the_same_numbers():
    m = metrics.for_manifest("filter-ical", "production",
                             attempts([entry(3, "rolled_back"), entry(2), entry(1)]), {"backup_20250101_115900"})
    families = parse_exposition(prometheus.render([m]))
    labels = {"project": "filter-ical", "environment": "production"}

    def value(family, name=None, **extra):
        return next(v for n, lab, v in families[family]["samples"]
                    if n == (name or family) and lab == {**labels, **extra})

    assert all(family["type"] and family["help"] for family in families.values())
    assert value("platform_deploy_deploy_attempts") == 3
    assert value("platform_deploy_deploy_success_ratio") == pytest.approx(2 / 3)
    assert value("platform_deploy_rollbacks") == 1
    assert value("platform_deploy_traffic_switches", result="ok") == 2
    assert value("platform_deploy_traffic_switches", result="failed") == 0
    assert families["platform_deploy_deploy_duration_seconds"]["type"] == "summary"
    assert value("platform_deploy_deploy_duration_seconds", quantile="0.5") == 20.0
    assert value("platform_deploy_deploy_duration_seconds", quantile="0.95") == pytest.approx(29.0)
    assert value("platform_deploy_deploy_duration_seconds", "platform_deploy_deploy_duration_seconds_sum") == 60.0
    assert value("platform_deploy_deploy_duration_seconds", "platform_deploy_deploy_duration_seconds_count") == 3


def test_prometheus_escapes_label_values_and_help():
    odd = 'we"ird\\name\nline'
    body = prometheus.render([metrics.Metrics(project=odd, environment="staging", attempts=1, succeeded=1,
                                              durations=(1.0,))])
    families = parse_exposition(body)
    samples = families["platform_deploy_deploy_attempts"]["samples"]
    assert samples == [("platform_deploy_deploy_attempts", {"project": odd, "environment": "staging"}, 1.0)]
    assert prometheus.escape_help("a\\b\nc") == "a\\\\b\\nc"


def test_prometheus_leaves_out_what_has_no_value():
    families = parse_exposition(prometheus.render([metrics.Metrics(project="p", environment="staging",
                                                                   backups_on_disk=2)]))
    assert "platform_deploy_deploy_success_ratio" not in families
    assert "platform_deploy_deploy_duration_seconds" not in families
    assert families["platform_deploy_backups_on_disk"]["samples"][0][2] == 2


def test_a_restore_counts_by_restored_from_or_by_its_backup_tag():
    history = [entry(3, restored_from="backup_20250101_115900"),
               entry(2, version="backup_20250101_115900-production"),
               entry(1, "rolled_back", restored_from="backup_20250101_115900")]
    assert metrics.for_manifest("filter-ical", "production", attempts(history), set()).restores == 2


def test_rollback_still_lists_backups_when_the_manifest_is_damaged(settings, registry):
    write_meta(settings, "backup_20250105_115900")
    directory = settings.deployments_dir / "filter-ical" / "production"
    directory.mkdir(parents=True)
    (directory / "manifest.json").write_text("{")
    shaped = show.view(FakeEngine(), settings, registry, "filter-ical", "production", "rollback")
    assert [b["name"] for b in shaped["backups"]] == ["backup_20250105_115900"]


def test_a_multi_line_failure_stays_on_its_history_row():
    failed = entry(2, "aborted", failure="pre-flight failed:\n  disk space\n  nginx config")
    lines = text.history(data.history_view(typed(make_manifest(failed, entry(1))))).splitlines()
    assert len(lines) == 4
    assert lines[2].endswith("step 5 health: pre-flight failed: disk space nginx config")
