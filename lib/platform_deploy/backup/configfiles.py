"""Configuration in a backup: the project's projects.yml entry, its env files, its generated nginx config.

Env files hold secrets: they are copied byte for byte (0600), never parsed,
printed or logged. On restore only the env files are written back; the
projects.yml entry and the nginx config are kept for reference (the registry
is the operator's to change, and nginx is generated from it).
"""

import hashlib
from pathlib import Path, PurePosixPath

import yaml

from ..config.yamlsafe import YamlProblem, parse_yaml
from ..envfiles import confined, env_files
from ..errors import PlatformError
from ..fsutil import symlink_below, write_atomic
from . import layout, payload

ENTRY = f"{layout.CONFIG}/projects.yml"
ENV_DIR = f"{layout.CONFIG}/env"
NGINX_DIR = f"{layout.CONFIG}/nginx"


def save(settings, project, environment: str, writer) -> dict:
    """Copy the configuration into the payload; return what the .meta records about it."""
    record = {"projects_entry": _save_entry(settings, project, writer), "env_files": {}, "nginx": None}
    for relative in env_files(project, environment):
        source = _own_env_file(settings, project.name, relative)
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


def restore_env_files(settings, project: str, env_files: dict, payload_dir: Path, checksums: dict) -> list[str]:
    """Write the backed-up env files ``{relative path: stored path}`` back (0600); return what was written.

    The caller checked that each one is an env file of the project's current entry (plan_restore); here,
    a last check that it goes into config/<project>/, that neither the copy nor the destination is reached
    through a symlink, and that the copy read is the one in the backup's ``checksums`` (the .meta's files).
    """
    restored = []
    for relative, stored in env_files.items():
        if stored is None:
            continue
        target = _destination(settings, project, relative)
        with payload.open_file(Path(payload_dir) / _safe_relative(stored)) as handle:
            data = handle.read()
        expected = checksums.get(stored) if isinstance(checksums, dict) else None
        if not isinstance(expected, dict) or hashlib.sha256(data).hexdigest() != expected.get("sha256"):
            raise PlatformError(f"{stored}: not the copy the backup's checksums list; nothing written to "
                                f"{relative}: restore another backup")
        write_atomic(target, data, mode=0o600)
        restored.append(relative)
    return restored


def remove_env_file(settings, project: str, relative: str) -> None:
    """Remove an env file the restore wrote where none was before."""
    _destination(settings, project, relative).unlink(missing_ok=True)


def own_directory(project: str) -> str:
    """Where a project's env files live, relative to the platform root: config/<project>/."""
    return f"{layout.CONFIG}/{project}/"


def _own_env_file(settings, project: str, relative: str) -> Path:
    """The env file to read for a backup; a PlatformError when it (or a symlink on its way) leaves the
    project's own directory: a backup never copies another project's or the platform's secrets."""
    try:
        return confined(settings, project, _safe_relative(relative))
    except PlatformError as error:
        raise PlatformError(f"{error}; not backed up") from None


def _destination(settings, project: str, relative: str) -> Path:
    """Where env file ``relative`` is written back: in config/<project>/, with no symlink on the way."""
    own = own_directory(project)
    if not _safe_relative(relative).startswith(own):
        raise PlatformError(f"backup refers to env file {relative!r}, which is not under {own}; the .meta was "
                            "edited by hand: restore another backup")
    link = symlink_below(Path(settings.root), relative)
    if link is not None:
        raise PlatformError(f"{link} is a symlink: the restore does not write env files through one; "
                            f"replace it with a plain file or directory and restore again")
    return Path(settings.root) / relative


def _safe_relative(relative: str) -> str:
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise PlatformError(f"backup refers to {relative!r}, which leaves its directory; the .meta was edited "
                            "by hand: restore another backup")
    return str(path)
