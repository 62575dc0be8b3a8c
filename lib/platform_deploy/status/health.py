"""Live health of a project/environment's containers: the only Docker access of `status`."""

from ..errors import PlatformError
from ..runtime import containers


def live_health(project, environment: str) -> dict:
    """``{"reachable": bool, "containers": [{role, container, status, health}]}``.

    ``status`` is None when the container does not exist; ``health`` is None
    when its image has no healthcheck.
    """
    rows = []
    try:
        for container in project.containers:
            name = container.container_name(environment)
            state = containers.inspect(name)
            rows.append({"role": container.role, "container": name,
                         "status": state.status if state else None,
                         "health": state.health if state else None})
    except (PlatformError, OSError):  # OSError covers the SDK's transport errors (requests)
        return {"reachable": False, "containers": []}
    return {"reachable": True, "containers": rows}
