"""What the platform calls things on the engine, and the labels that find them again.

Project and environment names were allowlisted by the registry, so every name
built here is a valid container, network and volume name.
"""

import re

LABEL_PREFIX = "platform."

# The `platform.role` labels of the platform's own helper containers. Cleanup finds and removes containers by
# them, so no project may name a container role like one (the registry refuses these).
SWITCH_HELPER_ROLE = "switch-helper"   # deploy/switch.py: the drain helpers
HOLD_ROLE = "hold"                     # deploy/switch.py: the holds beside nginx
BACKUP_HELPER_ROLE = "backup-helper"   # backup/volumes.py: archives volumes
LEGACY_HELPER_ROLE = "placeholder"     # the switch helpers' role before December 2026 (recovery still finds them)
INTERNAL_ROLES = frozenset({SWITCH_HELPER_ROLE, HOLD_ROLE, BACKUP_HELPER_ROLE, LEGACY_HELPER_ROLE})

# config/<project>/ holds a project's env files; config/platform/ the platform's own (the PostgreSQL
# superuser's password), so no project may be called that.
PLATFORM_CONFIG_DIR = "platform"
# The platform's PostgreSQL container by default (settings: PLATFORM_POSTGRES_CONTAINER); the one container
# a project's entry may name (database.container, the original's form).
DEFAULT_POSTGRES_CONTAINER = "postgres-platform"


def container_name(name: str, environment: str) -> str:
    """The live container of a role, e.g. ``filter-ical-backend-production``: the name users and nginx know."""
    return f"{name}-{environment}"


def candidate_name(live_name: str, deploy_id: str) -> str:
    """The container a deploy starts beside the live one, e.g. ``...-production-next-<deploy id>``."""
    return f"{live_name}-next-{deploy_id}"


RETIRED_MARK = "-retired-"
_DEPLOY_ID = r"[0-9]{14}-[0-9a-f]{4}"   # plan.new_deploy_id


def retired_name(live_name: str, deploy_id: str) -> str:
    """A replaced container between the switch and its removal (see deploy/switch.py)."""
    return f"{live_name}{RETIRED_MARK}{deploy_id}"


def is_retired(name: str, environment: str) -> bool:
    """Whether ``name`` is what retired_name makes of one of the environment's live names (never a live name:
    those end in the environment)."""
    return re.fullmatch(rf".+-{re.escape(environment)}{RETIRED_MARK}{_DEPLOY_ID}", name) is not None


def volume_name(volume: str, environment: str) -> str:
    """A project's named volume per environment: staging and production never share data."""
    return f"{volume}-{environment}"


def network_name(project: str, environment: str) -> str:
    """Each project/environment gets its own network: staging and production never share one."""
    return f"{project}-{environment}"


def network_labels(project: str, environment: str) -> dict:
    return {f"{LABEL_PREFIX}project": project, f"{LABEL_PREFIX}environment": environment}


def role_labels(project: str, environment: str, role: str) -> dict:
    """The labels that find a project/environment's containers of one role (candidates, switch helpers, holds)."""
    return {**network_labels(project, environment), f"{LABEL_PREFIX}role": role}


def deploy_labels(project: str, environment: str, role: str, deploy_id: str) -> dict:
    """role_labels plus the deploy that made the container."""
    return {**role_labels(project, environment, role), f"{LABEL_PREFIX}deploy-id": deploy_id}
