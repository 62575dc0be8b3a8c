"""Where a project/environment's state lives. Names were validated by the registry allowlists."""

from pathlib import Path


def state_dir(settings, project: str, environment: str) -> Path:
    return Path(settings.deployments_dir) / project / environment
