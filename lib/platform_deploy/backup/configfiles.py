"""Configuration in a backup: the project's projects.yml entry, its env files, its generated nginx config.

Env files hold secrets: they are copied byte for byte (0600), never parsed,
printed or logged. On restore only the env files are written back; the
projects.yml entry and the nginx config are kept for reference (the registry
is the operator's to change, and nginx is generated from it).
"""

from pathlib import Path, PurePosixPath

import yaml

from ..config.yamlsafe import YamlProblem, parse_yaml
from ..envfiles import env_files
from ..errors import PlatformError
from ..fsutil import write_atomic
from . import layout

ENTRY = f"{layout.CONFIG}/projects.yml"
ENV_DIR = f"{layout.CONFIG}/env"
NGINX_DIR = f"{layout.CONFIG}/nginx"


def save(settings, project, environment: str, writer) -> dict:
    """Copy the configuration into the payload; return what the .meta records about it."""
    record = {"projects_entry": _save_entry(settings, project, writer), "env_files": {}, "nginx": None}
    for relative in env_files(project, environment):
        source = Path(settings.root) / relative
        if source.is_file():
            stored = f"{ENV_DIR}/{_safe_relative(relative)}"
            writer.copy_file(stored, source)
            record["env_files"][relative] = stored
        else:
            record["env_files"][relative] = None   # absent when backed up
    nginx = Path(settings.conf_dir) / project.config_filename
    if nginx.is_file():
        stored = f"{NGINX_DIR}/{project.config_filename}"
        writer.copy_file(stored, nginx)
        record["nginx"] = {"file": settings.relative(nginx), "stored": stored}
    return record


def _save_entry(settings, project, writer) -> str | None:
    try:
        data = parse_yaml(Path(settings.projects_file).read_bytes())
    except (OSError, YamlProblem) as error:
        raise PlatformError(f"cannot read {settings.relative(settings.projects_file)} to back up the entry of "
                            f"{project.name}: {error}") from None
    entry = ((data or {}).get("projects") or {}).get(project.name)
    if entry is None:
        return None
    text = (f"# The entry of {project.name} in {settings.relative(settings.projects_file)} when this backup "
            "was made.\n# Not applied by a restore: compare it with the current file and edit that by hand.\n")
    writer.write_bytes(ENTRY, (text + yaml.safe_dump({"projects": {project.name: entry}}, sort_keys=False))
                       .encode("utf-8"))
    return ENTRY


def restore_env_files(settings, record: dict, payload_dir: Path) -> list[str]:
    """Write the backed-up env files back (0600); return their paths relative to the platform root."""
    restored = []
    for relative, stored in (record.get("env_files") or {}).items():
        if stored is None:
            continue
        target = Path(settings.root) / _safe_relative(relative)
        write_atomic(target, (Path(payload_dir) / _safe_relative(stored)).read_bytes(), mode=0o600)
        restored.append(relative)
    return restored


def remove_env_file(settings, relative: str) -> None:
    """Remove an env file the restore wrote where none was before."""
    (Path(settings.root) / _safe_relative(relative)).unlink(missing_ok=True)


def _safe_relative(relative: str) -> str:
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise PlatformError(f"backup refers to {relative!r}, which leaves its directory; the .meta was edited "
                            "by hand: restore another backup")
    return str(path)
