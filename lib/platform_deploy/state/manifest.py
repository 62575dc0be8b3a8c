"""The deployment manifest: the seed's format plus what we add, always valid JSON.

    {project, environment, schema_version, current_deployment{version, deployed_at,
     deployed_by, git_sha, backup, images, ...}, last_attempt, deployment_history: [newest first, at most 10]}

``current_deployment`` changes only when a deploy (or restore) succeeds; every
attempt, failed and rolled back ones too, goes into the history. The records and
their JSON forms are in records.py.
"""

import json
import sys

from ..fsutil import write_atomic
from ..textutil import FILE_STAMP, utc_timestamp
from .paths import private_state_dir, state_dir
from .records import Attempt, Manifest, NewerFormat, UnreadableState, read_json


def path(settings, project: str, environment: str):
    return state_dir(settings, project, environment) / "manifest.json"


def load(settings, project: str, environment: str) -> Manifest | None:
    """The manifest, or None when this project/environment was never deployed.

    Raises ValueError when the file is not JSON, UnreadableState when it is not a manifest this tool reads.
    """
    file = path(settings, project, environment)
    try:
        data = read_json(file)
    except FileNotFoundError:
        return None
    return Manifest.from_json(data, str(file), project, environment)


def _load_for_update(settings, project, environment) -> Manifest:
    file = path(settings, project, environment)
    try:
        return load(settings, project, environment) or Manifest(project, environment)
    except NewerFormat:
        raise   # never overwrite what a newer version wrote
    except (UnreadableState, ValueError):
        return _set_aside(file, project, environment)


def _set_aside(file, project: str, environment: str) -> Manifest:
    """Never lose the old file: keep it beside the new one for a human to inspect."""
    stamp = utc_timestamp(form=FILE_STAMP)
    file.rename(file.with_name(f"manifest.corrupt-{stamp}.json"))
    print(f"warning: {file} was not valid JSON; kept as manifest.corrupt-{stamp}.json", file=sys.stderr)
    return Manifest(project, environment)


def record(settings, project: str, environment: str, attempt: Attempt, current: bool) -> Manifest:
    """Add ``attempt`` to the history; make it the current deployment when ``current``."""
    manifest = _load_for_update(settings, project, environment).recorded(attempt, current)
    private_state_dir(settings, project, environment)
    write_atomic(path(settings, project, environment), json.dumps(manifest.to_json(), indent=2) + "\n", mode=0o600)
    return manifest
