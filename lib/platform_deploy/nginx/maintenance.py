"""Put a project/environment into maintenance or take it out: record it, regenerate its config, reload nginx.

The state file and the config change together or not at all: when nginx rejects the config or cannot be
reloaded, both are put back as they were.
"""

from ..config import maintenance
from ..errors import PlatformError
from ..fsutil import write_atomic
from . import files, live


def current(settings, registry, project: str, environment: str):
    """The Maintenance of project/environment, None when it is live; unknown names are one-line errors."""
    registry.project(project).check_environment(environment)
    return _load(settings, registry).get((project, environment))


def changed_files(settings, registry) -> set[str]:
    """What maintenance mode changes in the platform checkout, relative to its root: the state file and the
    generated configs of the projects in maintenance (the deploy's sync check lets them differ from git)."""
    try:
        state = _load(settings, registry)
    except PlatformError:   # the nginx check reports it
        state = {}
    return {settings.relative(settings.maintenance_file)} | {
        settings.relative(settings.conf_dir / registry.project(project).config_filename) for project, _ in state}


def change(engine, settings, registry, project: str, environment: str, entry) -> files.Plan:
    """Record ``entry`` (a Maintenance, or None to end maintenance) and reload nginx with it."""
    registry.project(project).check_environment(environment)
    path, name = settings.maintenance_file, registry.project(project).config_filename
    state = {**_load(settings, registry), (project, environment): entry}
    saved, saved_config = _read(path), files.snapshot(settings, [name])
    _write(path, maintenance.dump({key: value for key, value in state.items() if value is not None}))
    try:
        return live.generate_and_reload(engine, settings, registry, only=project)
    except BaseException as error:
        _write(path, saved)
        files.restore(settings, saved_config)
        if isinstance(error, PlatformError):
            raise PlatformError(f"{error}; {settings.relative(path)} restored, maintenance unchanged") from None
        raise


def _load(settings, registry) -> dict:
    return maintenance.load(settings.maintenance_file, registry, settings.relative(settings.maintenance_file))


def _read(path):
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write(path, data) -> None:
    """Write ``data``, or remove the file when it is None (nothing in maintenance)."""
    if data is None:
        path.unlink(missing_ok=True)
    else:
        write_atomic(path, data)
