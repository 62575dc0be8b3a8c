"""The CLI's user-visible output, frozen as golden files.

Why: the engine-boundary refactor of issue 10 moves the internals around and must
not change what a user sees. Each case runs one command as a user does (invoke,
or a lib/*.sh shim) against fixed temporary state and compares its stdout, stderr
and exit code with tests/unit/golden_cli/<name>.txt (stdout, a line `--- stderr`,
stderr, a line `--- exit <code>`).

No Docker: DOCKER_HOST points at a missing socket, so live health degrades to one
line, and the deploys here are --dry-run (which never reaches the engine).

Regenerate the files only when a change of output is intended, then review the diff:
    UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_cli_golden.py
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from seed import DEPLOYMENT_EXAMPLE

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden_cli"
INVOKE = (str(REPO / ".venv" / "bin" / "invoke"), "--search-root", str(REPO))
PRODUCTION = ("--project", "filter-ical", "--env", "production")

CASES = {
    "deploy_dry_run": (*INVOKE, "deploy", *PRODUCTION, "--dry-run"),
    "deploy_dry_run_tag": (*INVOKE, "deploy", *PRODUCTION, "--dry-run", "--tag", "v7"),
    "status": (*INVOKE, "status", *PRODUCTION),
    "status_history": (*INVOKE, "status", *PRODUCTION, "--history"),
    "status_rollback": (*INVOKE, "status", *PRODUCTION, "--rollback"),
    "status_json": (*INVOKE, "status", *PRODUCTION, "--json"),
    "status_history_json": (*INVOKE, "status", *PRODUCTION, "--history", "--json"),
    "status_rollback_json": (*INVOKE, "status", *PRODUCTION, "--rollback", "--json"),
    "status_metrics": (*INVOKE, "status.metrics"),
    "shim_deployment_status": (str(REPO / "lib" / "deployment-status.sh"), "filter-ical", "production"),
    "shim_deploy_dry_run": (str(REPO / "lib" / "deploy.sh"), "filter-ical", "production", "--dry-run"),
    "error_status_unknown_project": (*INVOKE, "status", "--project", "nope", "--env", "production"),
    "error_deploy_bad_tag": (*INVOKE, "deploy", *PRODUCTION, "--dry-run", "--tag", "bad tag"),
    "error_status_never_deployed": (*INVOKE, "status", "--project", "filter-ical", "--env", "staging"),
    "error_deploy_no_image": (*INVOKE, "deploy", *PRODUCTION, "--dry-run"),   # with the seed verbatim
}
VERBATIM_SEED = {"error_deploy_no_image"}

# The seed example has no image repositories, which a deploy (even a dry run) needs: add them.
WITH_IMAGES = yaml.safe_load(DEPLOYMENT_EXAMPLE)
for container in WITH_IMAGES["projects"]["filter-ical"]["containers"].values():
    container["image"] = f"ghcr.io/user/{container['name']}"

# Fixed state: every timestamp is a fixed string, and nothing printed is relative to
# today (no ages, no "N days ago"), so only the two substitutions in normalise() are needed.
OLDEST = {"deploy_id": "20250104120000-ab04", "version": "v4", "deployed_at": "2025-01-04T12:00:00Z",
          "deployed_by": "alice", "git_sha": "abc4", "backup": "backup_20250104_115900",
          "images": {"backend": "ghcr.io/user/filter-ical-backend:v4"}, "image_digests": {},
          "status": "success", "duration_seconds": 40.0,
          "steps": [{"step": "6", "name": "switch traffic", "status": "ok", "seconds": 1.0, "detail": ""}],
          "failure": None, "rollback": []}
LIVE = {**OLDEST, "deploy_id": "20250105120000-ab05", "version": "v5", "deployed_at": "2025-01-05T12:00:00Z",
        "deployed_by": "github-actions", "git_sha": "abc5", "backup": "backup_20250105_115900",
        "images": {"backend": "ghcr.io/user/filter-ical-backend:v5"},
        "image_digests": {"backend": "ghcr.io/user/filter-ical-backend@sha256:" + "5" * 64},
        "duration_seconds": 50.0}
FAILED = {**LIVE, "deploy_id": "20250106120000-ab06", "version": "v6", "deployed_at": "2025-01-06T12:00:00Z",
          "backup": "backup_20250106_115900", "status": "rolled_back", "duration_seconds": 61.5,
          "steps": [{"step": "4", "name": "start", "status": "ok", "seconds": 1.5, "detail": ""},
                    {"step": "5", "name": "health", "status": "failed", "seconds": 60.0, "detail": "unhealthy"}],
          "failure": "filter-ical-backend: unhealthy",
          "rollback": ["removed the candidates", "traffic still on v5"]}
FIXED_IDS = {entry["deploy_id"] for entry in (OLDEST, LIVE, FAILED)}
BACKUPS = {  # name: (.meta without its name, payload files {path: content}); the oldest cannot be restored
    "backup_20250104_115900": ({"created_at": "2025-01-04T11:59:00Z", "created_by": "alice",
                                "images": {"backend": {"image": "x", "was": "ghcr.io/user/filter-ical-backend:v3"}}},
                               {}),
    "backup_20250105_115900": ({"created_at": "2025-01-05T11:59:00Z", "created_by": "github-actions",
                                "reason": "deploy",
                                "images": {"backend": {"image": "ghcr.io/user/filter-ical-backend:"
                                                                "backup_20250105_115900-production",
                                                       "was": "ghcr.io/user/filter-ical-backend:v4"}}},
                               {"config/projects.entry.yml": "x\n"}),
    "backup_20250106_115900": ({"created_at": "2025-01-06T11:59:00Z", "created_by": "github-actions",
                                "reason": "deploy", "verification": {"ok": True, "at": "2025-01-06T13:00:00Z"},
                                "database": {"database": "filter_ical", "file": "database/filter_ical.dump"},
                                "images": {"backend": {"image": "ghcr.io/user/filter-ical-backend:"
                                                                "backup_20250106_115900-production",
                                                       "was": "ghcr.io/user/filter-ical-backend:v5"}}},
                               {"config/projects.entry.yml": "x\n", "database/filter_ical.dump": "dump\n"}),
}


def normalise(text: str, tmp: Path) -> str:
    """Replace what changes between runs: the temporary directory, a dry run's new deploy id."""
    text = text.replace(str(tmp), "<TMP>")
    return re.sub(r"\b\d{14}-[0-9a-f]{4}\b", lambda m: m[0] if m[0] in FIXED_IDS else "<DEPLOY_ID>", text)


@pytest.fixture
def env(tmp_path):
    for root, registry in (("root", yaml.safe_dump(WITH_IMAGES, sort_keys=False)), ("seed", DEPLOYMENT_EXAMPLE)):
        (tmp_path / root / "config").mkdir(parents=True)
        (tmp_path / root / "config" / "projects.yml").write_text(registry)
    state = tmp_path / "deployments" / "filter-ical" / "production"
    state.mkdir(parents=True)
    (state / "manifest.json").write_text(json.dumps({
        "project": "filter-ical", "environment": "production", "schema_version": 2, "current_deployment": LIVE,
        "last_attempt": FAILED, "deployment_history": [FAILED, LIVE, OLDEST]}))
    backups = tmp_path / "backups" / "filter-ical" / "production"
    for name, (meta, payload) in BACKUPS.items():
        for relative, content in payload.items():
            (backups / name / relative).parent.mkdir(parents=True, exist_ok=True)
            (backups / name / relative).write_text(content)
        if payload:   # a .meta without "files" is an old-format backup: not restorable
            meta = {**meta, "files": {relative: {"bytes": len(content), "sha256": "0" * 64}
                                      for relative, content in payload.items()}}
        backups.mkdir(parents=True, exist_ok=True)
        (backups / f"{name}.meta").write_text(json.dumps({"name": name, **meta}))
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PLATFORM_")}
    return dict(clean, PLATFORM_ROOT=str(tmp_path / "root"), PLATFORM_DEPLOYMENTS_DIR=str(tmp_path / "deployments"),
                PLATFORM_BACKUPS_DIR=str(tmp_path / "backups"), DOCKER_HOST="unix:///nonexistent")


@pytest.mark.parametrize("name", CASES)
def test_output_matches_golden(name, env, tmp_path):
    if name in VERBATIM_SEED:
        env = dict(env, PLATFORM_ROOT=str(tmp_path / "seed"))
    result = subprocess.run(CASES[name], env=env, capture_output=True, text=True, timeout=60)
    actual = normalise(f"{result.stdout}--- stderr\n{result.stderr}--- exit {result.returncode}\n", tmp_path)
    golden = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual)
    assert actual == golden.read_text()
