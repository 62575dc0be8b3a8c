"""Deploy metrics per project/environment, computed from manifests and backup names (pure).

Manifests keep the last 10 attempts, so every figure describes those attempts:
they are gauges over a window, not counters since the beginning.
"""

import math
from dataclasses import dataclass

from .data import ROLLED_BACK, WENT_LIVE, entry_status

SWITCH_STEP = "switch traffic"


@dataclass(frozen=True)
class Metrics:
    project: str
    environment: str
    attempts: int = 0
    succeeded: int = 0
    rollbacks: int = 0
    durations: tuple[float, ...] = ()
    backups_on_disk: int = 0
    backups_created: int = 0
    restores: int = 0
    switches_ok: int = 0
    switches_failed: int = 0

    @property
    def failed(self) -> int:
        return self.attempts - self.succeeded

    @property
    def success_ratio(self) -> float | None:
        return self.succeeded / self.attempts if self.attempts else None

    @property
    def rollback_ratio(self) -> float | None:
        return self.rollbacks / self.attempts if self.attempts else None

    @property
    def duration_median(self) -> float | None:
        return percentile(self.durations, 0.5)

    @property
    def duration_p95(self) -> float | None:
        return percentile(self.durations, 0.95)


def percentile(values, q: float) -> float | None:
    """The q-quantile with linear interpolation between closest ranks (numpy's default); None when empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def is_restore(entry: dict) -> bool:
    # backup.restore records restored_from; either way it deploys the backup's tag (backup_<stamp>-<env>).
    return bool(entry.get("restored_from")) or str(entry.get("version") or "").startswith("backup_")


def for_manifest(project: str, environment: str, history: list[dict], backups_on_disk: set[str]) -> Metrics:
    statuses = [entry_status(entry) for entry in history]
    steps = [step for entry in history for step in entry.get("steps") or [] if step.get("name") == SWITCH_STEP]
    created = backups_on_disk | {entry["backup"] for entry in history if entry.get("backup")}
    return Metrics(
        project=project,
        environment=environment,
        attempts=len(history),
        succeeded=sum(status in WENT_LIVE for status in statuses),
        rollbacks=sum(status in ROLLED_BACK for status in statuses),
        durations=tuple(float(entry["duration_seconds"]) for entry in history
                        if isinstance(entry.get("duration_seconds"), (int, float))),
        backups_on_disk=len(backups_on_disk),
        backups_created=len(created),
        restores=sum(is_restore(entry) and entry_status(entry) in WENT_LIVE for entry in history),
        switches_ok=sum(step.get("status") == "ok" for step in steps),
        switches_failed=sum(step.get("status") != "ok" for step in steps),
    )


def collect(manifests: list[dict], backup_names: dict[tuple[str, str], set[str]]) -> list[Metrics]:
    """Metrics for every project/environment that has a manifest or backups, sorted by name."""
    histories = {(m["project"], m["environment"]): m.get("deployment_history") or [] for m in manifests}
    keys = sorted(set(histories) | set(backup_names))
    return [for_manifest(project, environment, histories.get((project, environment), []),
                         backup_names.get((project, environment), set()))
            for project, environment in keys]
