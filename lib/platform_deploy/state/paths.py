"""Where a project/environment's state lives. Names were validated by the registry allowlists.

State is private: its directories 0700 (deployments_dir, the project's, the environment's), its files 0600.
"""

from pathlib import Path

from ..fsutil import private_dirs


def state_dir(settings, project: str, environment: str) -> Path:
    return Path(settings.deployments_dir) / project / environment


def private_state_dir(settings, project: str, environment: str) -> Path:
    """``state_dir``, made to exist and kept private, before anything is written in it."""
    return private_dirs(settings.deployments_dir, state_dir(settings, project, environment))
