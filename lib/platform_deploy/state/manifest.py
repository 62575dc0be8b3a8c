"""The deployment manifest: the seed's format plus what we add, always valid JSON.

    {project, environment, current_deployment{version, deployed_at, deployed_by,
     git_sha, backup, images, ...}, deployment_history: [newest first, at most 10]}

``current_deployment`` changes only when a deploy (or restore) succeeds; every
attempt, failed and rolled back ones too, goes into the history.
"""

import json
import sys
from datetime import datetime, timezone

from ..fsutil import write_atomic
from .paths import state_dir

SCHEMA_VERSION = 2
HISTORY_LENGTH = 10


def path(settings, project: str, environment: str):
    return state_dir(settings, project, environment) / "manifest.json"


def load(settings, project: str, environment: str) -> dict | None:
    """The manifest, or None when this project/environment was never deployed."""
    try:
        return json.loads(path(settings, project, environment).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def _load_for_update(settings, project, environment) -> dict:
    file = path(settings, project, environment)
    try:
        return load(settings, project, environment) or {}
    except ValueError:
        # Never lose the old file: keep it beside the new one for a human to inspect.
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d_%H%M%S")
        file.rename(file.with_name(f"manifest.corrupt-{stamp}.json"))
        print(f"warning: {file} was not valid JSON; kept as manifest.corrupt-{stamp}.json", file=sys.stderr)
        return {}


def record(settings, project: str, environment: str, attempt: dict, current: bool) -> dict:
    """Add ``attempt`` to the history; make it the current deployment when ``current``."""
    previous = _load_for_update(settings, project, environment)
    manifest = {
        "project": project,
        "environment": environment,
        "schema_version": SCHEMA_VERSION,
        "current_deployment": attempt if current else previous.get("current_deployment"),
        "last_attempt": attempt,
        "deployment_history": ([attempt] + list(previous.get("deployment_history") or []))[:HISTORY_LENGTH],
    }
    write_atomic(path(settings, project, environment), json.dumps(manifest, indent=2) + "\n")
    return manifest
