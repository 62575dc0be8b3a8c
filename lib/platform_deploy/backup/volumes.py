"""Named volumes of a project/environment: archived through the Docker API, restored in place.

The helper containers come from the platform nginx container's image: it is on
every platform host (nothing is pulled) and has the `sh` and `find` that
emptying a volume needs. They are created with no network, labelled, and
removed at once. Archiving never starts one; restoring starts one only to
empty the volume.
"""

from ..errors import PlatformError
from ..naming import BACKUP_HELPER_ROLE, role_labels
from . import catalog, payload


def helper_image(engine, settings) -> str:
    state = engine.inspect(settings.nginx_container)
    if state is None:
        raise PlatformError(f"container {settings.nginx_container} does not exist, and its image runs the "
                            "backup helper containers; start the platform with `invoke platform.up`")
    return state.image_id


def helper_labels(project: str, environment: str) -> dict:
    return role_labels(project, environment, BACKUP_HELPER_ROLE)


def remove_leftover_helpers(engine, project: str, environment: str) -> int:
    """Remove helper containers a killed backup or restore left behind; the caller holds the lock."""
    leftovers = engine.find(helper_labels(project, environment))
    for state in leftovers:
        engine.remove(state.id)
    return len(leftovers)


def project_volumes(plan) -> dict[str, str]:
    """{docker volume name: mount path} of the plan's containers (a volume shared by two roles once)."""
    found = {}
    for role in plan.roles:
        for volume, mount in role.volumes:
            found.setdefault(volume, mount)
    return found


def archive(engine, settings, plan, volume: str, writer: payload.PayloadWriter, relative: str) -> None:
    with writer.open(relative) as write:
        engine.archive_volume(volume, helper_image(engine, settings),
                              helper_labels(plan.project, plan.environment), write)


def restore(engine, settings, project: str, environment: str, volume: str, backup, relative: str,
            progress=None) -> None:
    """Replace the contents of ``volume`` with the archive ``relative`` of ``backup`` (a catalog.Backup),
    checked again as it is read (catalog.checked_chunks): a mismatch raises before the volume is emptied.
    ``progress``: see catalog.checked_chunks."""
    with catalog.checked_chunks(backup, relative, progress) as chunks:
        engine.replace_volume_contents(volume, helper_image(engine, settings), helper_labels(project, environment),
                                       chunks)
