"""lib/deployment-status.sh and `invoke status.metrics` as a user runs them, against temporary state.

DOCKER_HOST points at a missing socket: the live-health part must degrade to
one line, never fail the command.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest
from seed import DEPLOYMENT_EXAMPLE

REPO = Path(__file__).resolve().parents[2]
SHIM = REPO / "lib" / "deployment-status.sh"
PROJECTS_YML = DEPLOYMENT_EXAMPLE
LIVE = {"deploy_id": "20250105120000-ab05", "version": "v5", "deployed_at": "2025-01-05T12:00:00Z",
        "deployed_by": "github-actions", "git_sha": "abc5", "backup": "backup_20250105_115900",
        "images": {"backend": "ghcr.io/user/filter-ical-backend:v5"},
        "image_digests": {"backend": "ghcr.io/user/filter-ical-backend@sha256:" + "5" * 64},
        "status": "success", "duration_seconds": 50.0,
        "steps": [{"step": "6", "name": "switch traffic", "status": "ok", "seconds": 1.0, "detail": ""}],
        "failure": None, "rollback": []}
FAILED = {**LIVE, "deploy_id": "20250106120000-ab06", "version": "v6", "deployed_at": "2025-01-06T12:00:00Z",
          "status": "rolled_back", "duration_seconds": 61.5,
          "steps": [{"step": "5", "name": "health", "status": "failed", "seconds": 60.0, "detail": "unhealthy"}],
          "failure": "filter-ical-backend: unhealthy", "rollback": ["removed the candidates"]}


@pytest.fixture
def env(tmp_path):
    (tmp_path / "root" / "config").mkdir(parents=True)
    (tmp_path / "root" / "config" / "projects.yml").write_text(PROJECTS_YML)
    state = tmp_path / "deployments" / "filter-ical" / "production"
    state.mkdir(parents=True)
    (state / "manifest.json").write_text(json.dumps({
        "project": "filter-ical", "environment": "production", "schema_version": 2,
        "current_deployment": LIVE, "last_attempt": FAILED, "deployment_history": [FAILED, LIVE]}))
    backups = tmp_path / "backups" / "filter-ical" / "production"
    backups.mkdir(parents=True)
    (backups / "backup_20250105_115900" / "config").mkdir(parents=True)
    (backups / "backup_20250105_115900" / "config" / "projects.entry.yml").write_text("x\n")
    (backups / "backup_20250105_115900.meta").write_text(json.dumps({
        "name": "backup_20250105_115900", "created_at": "2025-01-05T11:59:00Z", "created_by": "github-actions",
        "images": {"backend": {"image": "ghcr.io/user/filter-ical-backend:backup_20250105_115900-production",
                               "was": "ghcr.io/user/filter-ical-backend:v4"}},
        "files": {"config/projects.entry.yml": {"bytes": 2, "sha256": "0" * 64}}}))
    return dict(os.environ, PLATFORM_ROOT=str(tmp_path / "root"),
                PLATFORM_DEPLOYMENTS_DIR=str(tmp_path / "deployments"),
                PLATFORM_BACKUPS_DIR=str(tmp_path / "backups"), DOCKER_HOST="unix:///nonexistent")


def run(env, *args, command=(str(SHIM),)):
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=60)


def test_current_status_with_docker_unreachable(env):
    result = run(env, "filter-ical", "production")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "filter-ical/production"
    assert "  version       v5" in lines
    assert "  last attempt  rolled back in 61.5s (v6, 2025-01-06T12:00:00Z)" in lines
    assert "                failed at step 5 health: filter-ical-backend: unhealthy" in lines
    assert lines[-1] == "  health        health unknown (Docker not reachable)"


def test_history_and_rollback_views(env):
    history = run(env, "filter-ical", "production", "--history")
    assert history.returncode == 0, history.stderr
    assert history.stdout.splitlines()[0] == "filter-ical/production: 2 attempt(s) kept, newest first (* = live)"
    assert "filter-ical-backend: unhealthy" in history.stdout
    rollback = run(env, "filter-ical", "production", "--rollback")
    assert rollback.returncode == 0, rollback.stderr
    assert ("    source lib/functions/backup.sh; restore_backup filter-ical production backup_20250105_115900"
            in rollback.stdout.splitlines())


@pytest.mark.parametrize("view, key", [((), "current"), (("--history",), "history"), (("--rollback",), "backups")])
def test_json_views(env, view, key):
    result = run(env, "filter-ical", "production", *view, "--json")
    assert result.returncode == 0, result.stderr
    decoded = json.loads(result.stdout)
    assert decoded["project"] == "filter-ical" and key in decoded


def test_never_deployed_and_unknown_names_are_one_line_errors(env):
    never = run(env, "filter-ical", "staging")
    assert never.returncode == 1 and never.stdout == ""
    assert never.stderr.count("\n") == 1
    assert never.stderr.startswith("error: filter-ical/staging has never been deployed")
    unknown = run(env, "nope", "production")
    assert (unknown.returncode, unknown.stderr) == (1, "error: config/projects.yml: no project 'nope'; "
                                                       "valid: filter-ical\n")
    bad_env = run(env, "filter-ical", "prod")
    assert (bad_env.returncode, bad_env.stderr) == (1, "error: project 'filter-ical' has no environment 'prod'; "
                                                       "valid: production, staging\n")


def test_usage_errors(env):
    assert run(env, "filter-ical").returncode == 2
    assert run(env, "--history", "filter-ical").returncode == 2
    both = run(env, "filter-ical", "production", "--history", "--rollback")
    assert (both.returncode, both.stderr) == (2, "error: choose one of --history and --rollback\n")


def test_metrics_task_prints_a_table_and_writes_the_textfile(env, tmp_path):
    out = tmp_path / "textfile" / "platform_deploy.prom"
    invoke = (str(REPO / ".venv" / "bin" / "invoke"), "--search-root", str(REPO), "status.metrics")
    result = run(env, "--prometheus", str(out), command=invoke)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].split()[:5] == ["filter-ical/production", "2", "1", "(50%)", "1"]
    assert result.stdout.splitlines()[-1] == f"wrote {out}"
    body = out.read_text()
    assert body.startswith("# HELP platform_deploy_deploy_attempts ")
    assert 'platform_deploy_deploy_attempts{project="filter-ical",environment="production"} 2\n' in body
    assert [path.name for path in out.parent.iterdir()] == ["platform_deploy.prom"]


def test_escape_sequences_in_records_are_not_printed(env, tmp_path):
    manifest = tmp_path / "deployments" / "filter-ical" / "production" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["deployment_history"][0]["failure"] = "boom \x1b[2J\x1b]0;owned\x07 done"
    manifest.write_text(json.dumps(data))
    result = run(env, "filter-ical", "production", "--history")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "owned" not in result.stdout and "boom done" in result.stdout


def test_a_malformed_manifest_is_one_line_and_metrics_skip_it_with_a_warning(env, tmp_path):
    broken = tmp_path / "deployments" / "filter-ical" / "staging" / "manifest.json"
    broken.parent.mkdir(parents=True)
    broken.write_text(json.dumps({"project": "filter-ical", "environment": "staging",
                                  "deployment_history": [{**LIVE, "backup": ["not", "a", "name"]}]}))
    shown = run(env, "filter-ical", "staging")
    assert shown.returncode == 1 and shown.stderr.count("\n") == 1 and str(broken) in shown.stderr
    invoke = (str(REPO / ".venv" / "bin" / "invoke"), "--search-root", str(REPO), "status.metrics")
    metrics = run(env, command=invoke)
    assert metrics.returncode == 0, metrics.stderr
    assert metrics.stdout.splitlines()[1].split()[0] == "filter-ical/production"
    assert metrics.stderr == f"warning: {broken}: not a deployment manifest (TypeError: backup is a list, not text); " \
                             "skipped\n"
