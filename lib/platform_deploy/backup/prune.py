"""Retention: remove backups beyond the newest N or older than D days, never the ones still needed.

Never removed: the newest backup, the backup of the live deployment (the
manifest's current_deployment.backup: what a rollback returns to), the backup
the live deployment was restored from, and any name the caller protects.
A backup goes with its .meta, its payload and its image tags together (a tag is
removed only while it still points at the image the backup recorded).
Payload directories without a .meta, left by an interrupted backup, go too;
the caller holds the project/environment lock, so none of them is in progress.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from ..errors import PlatformError
from ..state import manifest
from ..state.records import UnreadableState
from . import catalog, layout
from .create import discard


@dataclass(frozen=True)
class Policy:
    keep: int
    max_age_days: float


@dataclass(frozen=True)
class Decision:
    name: str
    remove: bool
    reason: str


@dataclass
class Result:
    decisions: list = field(default_factory=list)
    freed_bytes: int = 0
    tags_removed: int = 0
    orphans_removed: list = field(default_factory=list)

    @property
    def removed(self) -> list[str]:
        return [d.name for d in self.decisions if d.remove]

    def summary(self) -> str:
        kept = len(self.decisions) - len(self.removed)
        orphans = f", {len(self.orphans_removed)} incomplete" if self.orphans_removed else ""
        return (f"backups: {len(self.removed)} removed{orphans}, {kept} kept; "
                f"{self.freed_bytes / 1e6:.1f} MB freed, {self.tags_removed} image tag(s) removed")


def policy(settings, keep=None, max_age_days=None) -> Policy:
    """The retention rules: the arguments (as typed by a user) or else the settings."""
    try:
        keep = int(settings.backup_keep if keep is None else keep)
        max_age_days = float(settings.backup_max_age_days if max_age_days is None else max_age_days)
    except ValueError:
        raise PlatformError(f"--keep {keep!r} / --max-age-days {max_age_days!r}: give numbers, e.g. "
                            "--keep 10 --max-age-days 30") from None
    if keep < 1:
        raise PlatformError(f"--keep {keep}: keep at least 1 backup")
    if max_age_days <= 0:
        raise PlatformError(f"--max-age-days {max_age_days:g}: must be more than 0")
    return Policy(keep, max_age_days)


def created(name: str) -> datetime:
    """When a backup was made, from its name (UTC)."""
    stamp, _ = layout.sort_key(name)
    return datetime.strptime(stamp, "%Y%m%d_%H%M%S").replace(tzinfo=timezone.utc)


def choose(names: list[str], rules: Policy, protected: dict[str, str], now: datetime) -> list[Decision]:
    """Keep or remove each backup; ``names`` newest first, ``protected`` {name: why}."""
    decisions = []
    for index, name in enumerate(names):
        age = now - created(name)
        if index == 0:
            decisions.append(Decision(name, False, "newest"))
        elif name in protected:
            decisions.append(Decision(name, False, protected[name]))
        elif index >= rules.keep:
            decisions.append(Decision(name, True, f"beyond the newest {rules.keep}"))
        elif age > timedelta(days=rules.max_age_days):
            decisions.append(Decision(name, True, f"older than {rules.max_age_days:g} days"))
        else:
            decisions.append(Decision(name, False, "within retention"))
    return decisions


def protected_names(settings, project: str, environment: str, extra=()) -> dict[str, str]:
    try:
        loaded = manifest.load(settings, project, environment)
    except (ValueError, UnreadableState):
        raise PlatformError(f"{manifest.path(settings, project, environment)} is not valid JSON, so the backup of "
                            "the live deployment is unknown; nothing pruned: repair or remove that file") from None
    current = loaded.current if loaded else None
    protected = {name: "protected: named by the caller" for name in extra if name}
    if current and current.restored_from:
        protected[current.restored_from] = "protected: the live deployment was restored from it"
    if current and current.backup:
        protected[current.backup] = "protected: backup of the live deployment"
    return protected


def prune(engine, settings, project: str, environment: str, rules: Policy, protect=(), dry_run=False,
          now: datetime | None = None) -> Result:
    """Apply ``rules``; the caller holds the project/environment lock."""
    found = catalog.backups(settings, project, environment)
    decisions = choose([b.name for b in found], rules, protected_names(settings, project, environment, protect),
                       now or datetime.now(timezone.utc))
    result = Result(decisions)
    if dry_run:
        return result
    by_name = {b.name: b for b in found}
    for decision in decisions:
        if decision.remove:
            backup = by_name[decision.name]
            tags = [(image.get("image"), image.get("image_id")) for image in backup.images.values()]
            result.freed_bytes += _size(backup.meta_file) + _size(backup.payload_dir)
            result.tags_removed += _remove(engine, backup.directory, backup.name, tags)
    return remove_orphans(engine, settings, project, environment, result)


def remove_orphans(engine, settings, project: str, environment: str, result: Result | None = None) -> Result:
    """Remove what interrupted backups left (payloads without a .meta, their image tags); the caller holds the lock."""
    result = Result() if result is None else result
    for directory in catalog.orphans(settings, project, environment):
        result.freed_bytes += _size(directory)
        result.tags_removed += _remove(engine, directory.parent, directory.name, _pending_tags(directory))
        result.orphans_removed.append(directory.name)
    return result


def after_deploy(engine, settings, project: str, environment: str, protect=()) -> str:
    """Prune with the configured policy after a deploy; never raises (the deploy is already live)."""
    try:
        return prune(engine, settings, project, environment, policy(settings), protect=protect).summary()
    except Exception as error:  # noqa: BLE001 - traffic has switched: a failure here must not roll back
        return f"backups NOT pruned: {error if isinstance(error, PlatformError) else repr(error)}"


def _remove(engine, directory, name: str, tags) -> int:
    """Discard one backup; return how many image tags went (only tags still on the recorded image)."""
    ours = [reference for reference, image_id in tags
            if reference and (info := engine.image(reference)) is not None and info.id == image_id]
    discard(engine, directory, name, ours)
    return len(ours)


def _pending_tags(payload_dir) -> list:
    try:
        return [tuple(item) for item in json.loads((payload_dir / layout.PENDING_TAGS).read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError):
        return []


def _size(path) -> int:
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return path.stat().st_size
    except OSError:
        return 0
