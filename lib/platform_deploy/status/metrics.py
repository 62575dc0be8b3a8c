"""Deploy metrics per project/environment, computed from manifests and backup names (pure).

Manifests keep the last 10 attempts, so every figure describes those attempts:
they are gauges over a window, not counters since the beginning.
"""

import math
from dataclasses import dataclass

from ..state.records import Attempt, Manifest, StepStatus
from ..steps import SWITCH


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


def for_manifest(project: str, environment: str, history: tuple[Attempt, ...], backups_on_disk: set[str]) -> Metrics:
    switches = [step for attempt in history for step in attempt.steps if step.step == SWITCH.number]
    created = backups_on_disk | {attempt.backup for attempt in history if attempt.backup}
    return Metrics(
        project=project,
        environment=environment,
        attempts=len(history),
        succeeded=sum(attempt.status.went_live for attempt in history),
        rollbacks=sum(attempt.status.rolled_back for attempt in history),
        durations=tuple(float(attempt.duration_seconds) for attempt in history
                        if attempt.duration_seconds is not None),
        backups_on_disk=len(backups_on_disk),
        backups_created=len(created),
        restores=sum(attempt.is_restore and attempt.status.went_live for attempt in history),
        switches_ok=sum(step.status is StepStatus.OK for step in switches),
        switches_failed=sum(step.status is not StepStatus.OK for step in switches),
    )


def collect(manifests: list[Manifest], backup_names: dict[tuple[str, str], set[str]]) -> list[Metrics]:
    """Metrics for every project/environment that has a manifest or backups, sorted by name."""
    histories = {(m.project, m.environment): m.history for m in manifests}
    keys = sorted(set(histories) | set(backup_names))
    return [for_manifest(project, environment, histories.get((project, environment), []),
                         backup_names.get((project, environment), set()))
            for project, environment in keys]
