"""Typed deploy state: phases, outcomes, rollback actions, journal and manifest entries.

Each record has one JSON form, written by ``to_json`` and read by ``from_json``.
Readers accept every format this project has written (and the original bash
system's manifest entries); a file from a newer version is refused with one
line rather than guessed at.
"""

import json
from dataclasses import dataclass, field, fields
from enum import Enum
from pathlib import Path

from ..errors import PlatformError


class UnreadableState(PlatformError):
    """A state file that cannot be used: damaged, or written by a newer version."""


class NewerFormat(UnreadableState):
    """A state file written by a newer version: never guessed at, never overwritten."""


def read_json(file: Path):
    """The JSON in ``file``: OSError and ValueError as reading and parsing raise them, but UnreadableState
    for JSON nested deeper than Python's recursion limit (``[[[...``), which json.loads would crash on."""
    text = Path(file).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except RecursionError:
        raise UnreadableState(f"{file}: nested too deeply to be a state file") from None


class Phase(str, Enum):
    """How far a deploy got, as its journal records it before each change."""

    STARTED = "started"       # nothing changed yet (no journal is written in this phase)
    PREPARE = "prepare"       # a restore is writing the backup's data over the live version's (see PutBack)
    PULL = "pull"
    START = "start"
    MIGRATE = "migrate"
    SWITCHING = "switching"   # candidates may hold the live name: traffic may be on either side
    SWITCHED = "switched"     # traffic moved and was confirmed: finish, never undo

    @property
    def exposed(self) -> bool:
        """Whether candidates may have served users in this phase."""
        return self in (Phase.SWITCHING, Phase.SWITCHED)


class Status(str, Enum):
    """How a deploy attempt ended."""

    SUCCESS = "success"
    ABORTED = "aborted"                                  # failed before anything changed
    ROLLED_BACK = "rolled_back"
    ROLLBACK_FAILED = "rollback_failed"                  # needs `deploy.recover` or a human
    INTERRUPTED_COMPLETED = "interrupted_completed"      # killed after traffic moved; the switch was finished
    INTERRUPTED_ROLLED_BACK = "interrupted_rolled_back"  # killed before; recovery undid it

    @property
    def went_live(self) -> bool:
        return self in (Status.SUCCESS, Status.INTERRUPTED_COMPLETED)

    @property
    def rolled_back(self) -> bool:
        return self in (Status.ROLLED_BACK, Status.ROLLBACK_FAILED, Status.INTERRUPTED_ROLLED_BACK)


class StepStatus(str, Enum):
    OK = "ok"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class Outcome(Enum):
    """What became of one rollback or recovery action."""

    DONE = "done"
    RETRY_LATER = "retry later"    # failed now; `deploy.recover` tries again (PostgreSQL down, say)
    NEEDS_HUMAN = "needs a human"  # no automatic way: the text says what to do


@dataclass(frozen=True)
class Action:
    outcome: Outcome
    text: str

    def __str__(self) -> str:
        """As recorded and shown: anything not done starts with FAILED."""
        return self.text if self.outcome is Outcome.DONE else f"FAILED: {self.text}"


def done(text: str) -> Action:
    return Action(Outcome.DONE, text)


def retry_later(text: str) -> Action:
    return Action(Outcome.RETRY_LATER, text)


def needs_human(text: str) -> Action:
    return Action(Outcome.NEEDS_HUMAN, text)


def all_done(actions) -> bool:
    return all(action.outcome is Outcome.DONE for action in actions)


@dataclass(frozen=True)
class Migration:
    container: str
    command: str
    alembic: bool
    before: str | None     # None: no revision yet (alembic "base")
    after: str | None

    def to_json(self) -> dict:
        return {name.name: getattr(self, name.name) for name in fields(self)}

    @classmethod
    def from_json(cls, data: dict) -> "Migration":
        return cls(data["container"], data["command"], bool(data["alembic"]), data.get("before"), data.get("after"))


@dataclass(frozen=True)
class RoleNames:
    """A role's live container, the candidate a deploy started beside it, and the port nginx sends to."""

    role: str
    live_name: str
    new_name: str
    port: int | None = None   # None in format-1 journals: their containers are stopped without a drain
    drain_timeout: int | None = None   # None: the default (journals from before the key)


@dataclass(frozen=True)
class PutBack:
    """What a restore has written over the live version's data, and the backup of that data: what the
    rollback, or the recovery of a killed restore, writes back unless the restore went live."""

    restored_from: str                      # the backup being restored
    saved: str | None                       # the backup of the state before; None: nothing was live
    changed: tuple[tuple[str, str], ...]    # ("volume" | "env" | "database", what), in the order written
    database: tuple[str, str, str] | None = None   # (container, database, role) it writes, if any

    def to_json(self) -> dict:
        return {"restored_from": self.restored_from, "saved": self.saved,
                "changed": [list(item) for item in self.changed],
                "database": list(self.database) if self.database else None}

    @classmethod
    def from_json(cls, data: dict) -> "PutBack":
        database = data.get("database")
        return cls(data["restored_from"], data.get("saved"),
                   tuple((kind, what) for kind, what in data.get("changed") or ()),
                   tuple(database) if database else None)


@dataclass(frozen=True)
class JournalEntry:
    """What an in-flight deploy has changed so far: enough for `recover` to finish or undo it."""

    FORMAT = 3   # 2: without put_back, drain_timeout, phase prepare and retired containers; 1: without "format"

    deploy_id: str
    phase: Phase
    tag: str
    network: str
    roles: tuple[RoleNames, ...]
    started_at: str
    old_names: tuple[str, ...] = ()
    migrations: tuple[Migration, ...] = ()   # applied and not reversed yet
    images: dict = field(default_factory=dict)
    backup: str | None = None
    put_back: PutBack | None = None          # a restore's: see PutBack

    def to_json(self) -> dict:
        return {
            "format": self.FORMAT,
            "deploy_id": self.deploy_id,
            "phase": self.phase.value,
            "tag": self.tag,
            "network": self.network,
            "roles": [{"role": r.role, "live_name": r.live_name, "new_name": r.new_name, "port": r.port,
                       "drain_timeout": r.drain_timeout} for r in self.roles],
            "old_names": list(self.old_names),
            "migrations": [migration.to_json() for migration in self.migrations],
            "images": dict(self.images),
            "backup": self.backup,
            "put_back": self.put_back.to_json() if self.put_back else None,
            "started_at": self.started_at,
        }

    @classmethod
    def from_json(cls, data, where: str) -> "JournalEntry":
        _check_format(data, "format", cls.FORMAT, where)
        try:
            return cls(
                deploy_id=data["deploy_id"],
                phase=Phase(data["phase"]),
                tag=data["tag"],
                network=data["network"],
                roles=tuple(RoleNames(r["role"], r["live_name"], r["new_name"], r.get("port"), r.get("drain_timeout"))
                            for r in data["roles"]),
                started_at=data.get("started_at") or "",
                old_names=tuple(data.get("old_names") or ()),
                migrations=tuple(Migration.from_json(m) for m in data.get("migrations") or ()),
                images=dict(data.get("images") or {}),
                backup=data.get("backup"),
                put_back=PutBack.from_json(data["put_back"]) if data.get("put_back") else None,
            )
        except (AttributeError, IndexError, KeyError, TypeError, ValueError) as error:
            raise UnreadableState(f"{where}: not a deploy journal ({type(error).__name__}: {error})") from None


@dataclass(frozen=True)
class StepRecord:
    step: str         # the number users know: "1" ... "8", "4.5", "rollback"
    name: str
    status: StepStatus
    seconds: float
    detail: str = ""

    def to_json(self) -> dict:
        return {"step": self.step, "name": self.name, "status": self.status.value, "seconds": self.seconds,
                "detail": self.detail}

    @classmethod
    def from_json(cls, data: dict) -> "StepRecord":
        return cls(str(data.get("step") or "?"), _optional(data, "name") or "?",
                   StepStatus(data.get("status") or "ok"), float(data.get("seconds") or 0),
                   _optional(data, "detail") or "")


@dataclass(frozen=True)
class Attempt:
    """One deploy attempt as the manifest records it (the original format's fields first)."""

    version: str | None
    deployed_at: str | None
    status: Status = Status.SUCCESS     # the original system recorded successful deploys only
    deploy_id: str | None = None
    deployed_by: str | None = None
    git_sha: str | None = None
    backup: str | None = None
    images: dict = field(default_factory=dict)
    image_digests: dict = field(default_factory=dict)
    image_ids: dict = field(default_factory=dict)
    duration_seconds: float | None = None
    steps: tuple[StepRecord, ...] = ()
    migrations: tuple[Migration, ...] = ()
    forced: bool = False
    skip_backup: bool = False
    restored_from: str | None = None
    failure: str | None = None
    rollback: tuple[str, ...] = ()      # the actions taken, as shown (str(Action))

    def to_json(self) -> dict:
        return {
            "deploy_id": self.deploy_id,
            "version": self.version,
            "deployed_at": self.deployed_at,
            "deployed_by": self.deployed_by,
            "git_sha": self.git_sha,
            "backup": self.backup,
            "images": dict(self.images),
            "image_digests": dict(self.image_digests),
            "image_ids": dict(self.image_ids),
            "status": self.status.value,
            "duration_seconds": self.duration_seconds,
            "steps": [step.to_json() for step in self.steps],
            "migrations": [migration.to_json() for migration in self.migrations],
            "forced": self.forced,
            "skip_backup": self.skip_backup,
            "restored_from": self.restored_from,
            "failure": self.failure,
            "rollback": list(self.rollback),
        }

    @classmethod
    def from_json(cls, data) -> "Attempt":
        duration = data.get("duration_seconds")
        return cls(
            version=_text(data.get("version")),
            deployed_at=_optional(data, "deployed_at"),
            status=Status(data.get("status") or Status.SUCCESS.value),
            deploy_id=_optional(data, "deploy_id"),
            deployed_by=_optional(data, "deployed_by"),
            git_sha=_optional(data, "git_sha"),
            backup=_optional(data, "backup"),
            images=_texts(data, "images"),
            image_digests=_texts(data, "image_digests"),
            image_ids=_texts(data, "image_ids"),
            duration_seconds=duration if isinstance(duration, (int, float)) else None,
            steps=tuple(StepRecord.from_json(step) for step in data.get("steps") or ()),
            migrations=tuple(Migration.from_json(m) for m in data.get("migrations") or ()),
            forced=bool(data.get("forced")),
            skip_backup=bool(data.get("skip_backup")),
            restored_from=_optional(data, "restored_from"),
            failure=_optional(data, "failure"),
            rollback=tuple(str(line) for line in data.get("rollback") or ()),
        )

    def failed_step(self) -> StepRecord | None:
        """The step that ended the attempt; None when every step passed."""
        return next((step for step in self.steps if step.status is not StepStatus.OK), None)

    @property
    def is_restore(self) -> bool:
        # backup.restore records restored_from; either way it deploys the backup's tag (backup_<stamp>-<env>).
        return bool(self.restored_from) or (self.version or "").startswith("backup_")


@dataclass(frozen=True)
class Manifest:
    """What is deployed in one project/environment and the last attempts, newest first."""

    SCHEMA_VERSION = 2   # 1: no schema_version; the original system's {project, environment,
                         #    current_deployment, deployment_history} with success-only entries
    HISTORY_LENGTH = 10

    project: str
    environment: str
    current: Attempt | None = None
    last_attempt: Attempt | None = None
    history: tuple[Attempt, ...] = ()

    def recorded(self, attempt: Attempt, current: bool) -> "Manifest":
        """This manifest with ``attempt`` added to the history, and made current when ``current``."""
        return Manifest(self.project, self.environment, attempt if current else self.current, attempt,
                        ((attempt,) + self.history)[:self.HISTORY_LENGTH])

    def to_json(self) -> dict:
        return {
            "project": self.project,
            "environment": self.environment,
            "schema_version": self.SCHEMA_VERSION,
            "current_deployment": self.current.to_json() if self.current else None,
            "last_attempt": self.last_attempt.to_json() if self.last_attempt else None,
            "deployment_history": [attempt.to_json() for attempt in self.history],
        }

    @classmethod
    def from_json(cls, data, where: str, project: str, environment: str) -> "Manifest":
        _check_format(data, "schema_version", cls.SCHEMA_VERSION, where)
        try:
            history = tuple(Attempt.from_json(entry) for entry in data.get("deployment_history") or ())
            current, last = data.get("current_deployment"), data.get("last_attempt")
            return cls(project, environment,
                       Attempt.from_json(current) if current else None,
                       Attempt.from_json(last) if last else (history[0] if history else None),
                       history)
        except (AttributeError, IndexError, KeyError, TypeError, ValueError) as error:
            raise UnreadableState(f"{where}: not a deployment manifest ({type(error).__name__}: {error})") from None


def _check_format(data, key: str, newest: int, where: str) -> None:
    if not isinstance(data, dict):
        raise UnreadableState(f"{where}: not a JSON object")
    version = data.get(key, 1)
    if not isinstance(version, int):
        raise UnreadableState(f"{where}: {key} {version!r} is not a format number")
    if version > newest:
        raise NewerFormat(f"{where}: {key} {version!r} is newer than this tool reads ({newest}); "
                              "upgrade platform-deploy")


def _text(value) -> str | None:
    return None if value is None else str(value)


def _optional(data: dict, key: str) -> str | None:
    """``data[key]``: text or absent; anything else is damage (a TypeError, reported as an unreadable file)."""
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{key} is a {type(value).__name__}, not text")
    return value


def _texts(data: dict, key: str) -> dict:
    """``data[key]``: a map of text to text (or null)."""
    value = data.get(key) or {}
    if not isinstance(value, dict) or not all(isinstance(item, (str, type(None))) for item in value.values()):
        raise TypeError(f"{key} is not a map of names to text")
    return dict(value)
