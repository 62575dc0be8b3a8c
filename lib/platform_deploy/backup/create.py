"""Create a backup before a deploy: tag the live images and write the .meta.

Layout under $PLATFORM_BACKUPS_DIR/<project>/<environment>/:
    backup_YYYYMMDD_HHMMSS/        payload (0700)
    backup_YYYYMMDD_HHMMSS.meta    JSON metadata (0600), readable with `cat`
Image tags are <repository>:<backup name>-<environment>, so staging and
production never share one.
"""

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from ..fsutil import write_atomic
from ..runtime import containers


def backup_dir(settings, project: str, environment: str) -> Path:
    return Path(settings.backups_dir) / project / environment


def reserve_name(directory: Path, now: datetime | None = None) -> str:
    """A fresh backup name; mkdir is atomic, so two backups in one second get different names."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = f"backup_{(now or datetime.now(timezone.utc)):%Y%m%d_%H%M%S}"
    for suffix in [""] + [f"_{n}" for n in range(2, 100)]:
        try:
            (directory / (stamp + suffix)).mkdir(mode=0o700)
            return stamp + suffix
        except FileExistsError:
            continue
    raise RuntimeError(f"more than 99 backups in one second in {directory}")


def image_tag(name: str, environment: str) -> str:
    return f"{name}-{environment}"


def create(settings, plan, created_by: str, git_sha: str | None) -> dict | None:
    """Back up what serves now; None when nothing is live yet (first deploy)."""
    live = {role.role: (role, containers.inspect(role.live_name)) for role in plan.roles}
    live = {name: (role, state) for name, (role, state) in live.items() if state is not None}
    if not live:
        return None
    directory = backup_dir(settings, plan.project, plan.environment)
    name = reserve_name(directory)
    tag = image_tag(name, plan.environment)
    images = {}
    for role_name, (role, state) in live.items():
        repository = state.image_ref.rsplit(":", 1)[0] if ":" in state.image_ref.rsplit("/", 1)[-1] \
            else state.image_ref
        containers.tag(state.image_id, repository, tag)
        images[role_name] = {"image": f"{repository}:{tag}", "image_id": state.image_id,
                             "was": state.image_ref, "container": state.name}
    meta = {
        "name": name,
        "project": plan.project,
        "environment": plan.environment,
        "created_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "created_by": created_by,
        "git_sha": git_sha,
        "deploy_id": plan.deploy_id,
        "images": images,
    }
    write_atomic(directory / f"{name}.meta", json.dumps(meta, indent=2) + "\n", mode=0o600)
    os.chmod(directory, 0o700)
    return meta
