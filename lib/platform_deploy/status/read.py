"""Read deployment state from disk: manifests and the backup catalog. No Docker here."""

from pathlib import Path

from ..backup import catalog, layout
from ..errors import PlatformError
from ..state import manifest
from ..state.records import Manifest


def load_manifest(settings, project: str, environment: str) -> Manifest | None:
    """The manifest, None when never deployed; a damaged or unreadable one is a one-line error naming it."""
    shown = manifest.path(settings, project, environment)
    try:
        return manifest.load(settings, project, environment)
    except UnicodeDecodeError:
        raise PlatformError(f"{shown}: cannot read: not UTF-8 text") from None
    except ValueError:
        raise PlatformError(f"{shown} is not valid JSON; the next deploy keeps it as manifest.corrupt-*.json") from None
    except OSError as error:
        raise PlatformError(f"{shown}: cannot read: {error.strerror or type(error).__name__}") from None


def all_manifests(settings, warn=lambda message: None) -> list[Manifest]:
    """Every readable manifest under the deployments directory, sorted by project and environment;
    ``warn(message)`` is told about each one skipped because it cannot be read."""
    found = []
    for file in sorted(Path(settings.deployments_dir).glob("*/*/manifest.json")):
        try:
            loaded = load_manifest(settings, file.parent.parent.name, file.parent.name)
        except PlatformError as error:   # UnreadableState included
            warn(f"{error}; skipped")
            continue
        if loaded is not None:
            found.append(loaded)
    return found


def backup_meta(settings, project: str, environment: str, name: str | None) -> dict | None:
    """One backup's metadata, or None when it is absent or unreadable."""
    if not layout.is_name(name):
        return None
    return catalog.read(layout.backup_dir(settings, project, environment), name).meta


def backups(settings, project: str, environment: str) -> tuple[list[dict], int]:
    """(metadata of the backups `backup.restore` would accept, newest first; how many others there are).

    Accepted means: a readable .meta with checksums, no failed verification, and
    every payload file still there with its size (a quick look; backup.verify reads them).
    """
    restorable, others = [], 0
    for backup in catalog.backups(settings, project, environment):
        verification = (backup.meta or {}).get("verification") or {}
        if (backup.meta is None or not isinstance(backup.meta.get("files"), dict)
                or verification.get("ok") is False or catalog.verify_files_present(backup)):
            others += 1
        else:
            restorable.append({**backup.meta, "name": backup.name, "verified": catalog.verified_state(backup)})
    return restorable, others


def backup_names(settings) -> dict[tuple[str, str], set[str]]:
    """{(project, environment): names of the backups on disk} for every project/environment."""
    names: dict[tuple[str, str], set[str]] = {}
    for file in Path(settings.backups_dir).glob(f"*/*/backup_*{layout.META_SUFFIX}"):
        name = file.name[: -len(layout.META_SUFFIX)]
        if layout.is_name(name):
            names.setdefault((file.parent.parent.name, file.parent.name), set()).add(name)
    return names
