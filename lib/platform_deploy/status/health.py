"""Live health of a project/environment's containers, or on a swarm its services: the only engine access of
`status`."""

from ..engine import EngineError
from ..naming import network_labels
from . import services


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


def swarm_health(engine, project, environment: str) -> dict:
    """``{"reachable": bool, "services": [...]}``: each role's live service (named like its single-host container)
    with its tasks per node, each entry shaped by ``services.role_view``."""
    rows = []
    try:
        nodes = engine.nodes()
        tasks = engine.service_tasks(network_labels(project.name, environment))
        for container in project.containers:
            name = container.container_name(environment)
            service = engine.service(name)
            image = engine.image(service.image) if service is not None else None
            rows.append(services.role_view(container.role, name, service, tasks, nodes, image))
    except EngineError:
        return {"reachable": False, "services": []}
    return {"reachable": True, "services": rows}
