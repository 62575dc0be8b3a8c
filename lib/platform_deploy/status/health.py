"""Live health of a project/environment's containers: the only engine access of `status`."""

from ..engine import EngineError


def live_health(engine, project, environment: str) -> dict:
    """``{"reachable": bool, "containers": [{role, container, status, health}]}``.

    ``status`` is None when the container does not exist; ``health`` is None
    when its image has no healthcheck.
    """
    rows = []
    try:
        for container in project.containers:
            name = container.container_name(environment)
            state = engine.inspect(name)
            rows.append({"role": container.role, "container": name,
                         "status": state.status if state else None,
                         "health": state.health if state else None})
    except EngineError:
        return {"reachable": False, "containers": []}
    return {"reachable": True, "containers": rows}
