"""`status` on a swarm: each role's live service, its tasks per node and their health (pure).

It gets the engine's ServiceState, TaskState, NodeState and ImageInfo records (engine/__init__.py) and
reads nothing itself: status/health.py reads them.
"""


def role_view(role: str, name: str, service, tasks, nodes, image) -> dict:
    """One entry of ``health["services"]`` on a swarm::

        {"role", "service", "exists", "image", "replicas", "healthcheck",
         "tasks": [{"node", "slot", "state", "health", "error"}]}

    ``image`` is the reference the swarm runs (``repo:tag@sha256:...``), ``replicas`` the tasks it wants (None
    for a global service), ``healthcheck`` whether they run a HEALTHCHECK (None: cannot tell, see
    ``healthcheck``). ``tasks`` are the service's tasks meant to run (of ``tasks``, any service's), by slot
    and node. A service that does not exist has ``exists`` false, None for the rest and no tasks.
    """
    if service is None:
        return {"role": role, "service": name, "exists": False, "image": None, "replicas": None,
                "healthcheck": None, "tasks": []}
    checked = healthcheck(service, image)
    hostnames = {node.id: node.hostname for node in nodes}
    placed = sorted(((hostnames.get(task.node_id, task.node_id or "(unassigned)"), task) for task in tasks
                     if task.service == name and task.desired_state == "running"),
                    key=lambda pair: (pair[1].slot or 0, pair[0]))
    return {"role": role, "service": name, "exists": True, "image": service.image, "replicas": service.replicas,
            "healthcheck": checked,
            "tasks": [{"node": node, "slot": task.slot, "state": task.state, "health": health(task.state, checked),
                       "error": task.error} for node, task in placed]}


def health(state: str, healthcheck: bool | None) -> str:
    """Swarm reports a task with a HEALTHCHECK ``starting`` until the check passed, ``running`` only after (and
    fails the task when it stops passing), so running is healthy when the task has one. Without one, or when
    we cannot tell, running is all we know; any other state is said as is (the task's error goes beside)."""
    return "healthy" if state == "running" and healthcheck else state


def healthcheck(service, image) -> bool | None:
    """Whether the service's tasks run a HEALTHCHECK: its spec's own when it sets one (``docker service update
    --health-cmd`` or ``--no-healthcheck``), else its image's (ImageInfo); None when the image is not on this
    manager (the deploy pulls it here, but it may have been removed since)."""
    container = (service.spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    test = (container.get("Healthcheck") or {}).get("Test")
    if test:
        return test != ["NONE"]
    return None if image is None else bool(image.health_command)
