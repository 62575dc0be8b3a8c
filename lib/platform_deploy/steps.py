"""The steps of a deploy, in order: the one list the pipeline runs, dry-run prints and the docs follow.

Numbers are the ones users know from the original system (4.5 and 5.5 came later);
they are recorded in manifests, so they never change.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    number: str
    name: str       # as reported and recorded
    short: str      # in the dry run's one-line summary


PREFLIGHT = Step("1", "pre-flight", "pre-flight")
BACKUP = Step("2", "backup", "backup")
PULL = Step("3", "pull", "pull")
START = Step("4", "start candidates", "start")
MIGRATIONS = Step("4.5", "migrations", "migrations")
HEALTH = Step("5", "health", "health")
SMOKE = Step("5.5", "smoke tests", "smoke")
SWITCH = Step("6", "switch traffic", "switch")
CLEANUP = Step("7", "cleanup", "cleanup")
MANIFEST = Step("8", "manifest", "manifest")

STEPS = (PREFLIGHT, BACKUP, PULL, START, MIGRATIONS, HEALTH, SMOKE, SWITCH, CLEANUP, MANIFEST)
ROLLBACK = "rollback"   # the step number of a rollback's line in the report
