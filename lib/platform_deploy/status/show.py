"""Answer `status`: check the names, read the state, shape it, render it."""

import json

from ..backup import layout
from ..config import maintenance
from ..errors import PlatformError
from ..state import manifest as manifest_file
from ..textutil import printable
from . import data, health, metrics, read, text

VIEWS = {"current": text.current, "history": text.history, "rollback": text.rollback}


def view(engine, settings, registry, project_name: str, environment: str, which: str = "current") -> dict:
    """The data of one view (see ``VIEWS``) of project/environment, every text in it printable."""
    return _printable(_view(engine, settings, registry, project_name, environment, which))


def _printable(value):
    """Records quote containers' output; those written before the deploy stripped control characters
    (or by hand), and backups' .meta files (untrusted), may still hold escape sequences: in keys too."""
    if isinstance(value, dict):
        return {_printable(key): _printable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_printable(item) for item in value]
    return printable(value) if isinstance(value, str) else value


def _view(engine, settings, registry, project_name: str, environment: str, which: str) -> dict:
    project = registry.project(project_name)
    project.check_environment(environment)
    if which == "rollback":
        # Backups first: a damaged manifest must not hide what can be restored.
        metas, others = read.backups(settings, project_name, environment)
        if metas or others or read.load_manifest(settings, project_name, environment) is not None:
            directory = layout.backup_dir(settings, project_name, environment)
            return data.rollback_view(project_name, environment, str(directory), metas, others)
    loaded = read.load_manifest(settings, project_name, environment)
    if loaded is None:
        raise PlatformError(f"{project_name}/{environment} has never been deployed (no "
                            f"{manifest_file.path(settings, project_name, environment)}); "
                            f"deploy it with ./lib/deploy.sh {project_name} {environment}")
    if which == "history":
        return data.history_view(loaded)
    backup = read.backup_meta(settings, project_name, environment, loaded.current.backup if loaded.current else None)
    closed = maintenance.load(settings.maintenance_file, registry, settings.relative(settings.maintenance_file))
    live = health.swarm_health if settings.on_swarm else health.live_health
    return data.current_view(loaded, backup, live(engine, project, environment),
                             closed.get((project_name, environment)))


def render(which: str, shaped: dict, as_json: bool = False) -> str:
    return json.dumps(shaped, indent=2) if as_json else VIEWS[which](shaped)


def all_metrics(settings, warn=lambda message: None) -> list:
    """Metrics of every project/environment with a manifest or backups; ``warn`` hears of manifests skipped."""
    return metrics.collect(read.all_manifests(settings, warn), read.backup_names(settings))
