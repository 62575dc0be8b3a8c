"""Pre-flight on a swarm: what a deploy needs of the cluster, checked before anything changes."""

from ..deploy.preflight import Check
from ..errors import PlatformError
from ..naming import network_name

SWARM = "swarm"
DB_LABEL = "platform.db"


def check(engine, settings, project, environment: str) -> Check:
    """The manager answers and has ready nodes; the project's overlay exists and platform-nginx (and
    postgres-platform, for a project with a database) join it; a project with a database or volumes is
    deployed from the node labelled platform.db=true, where its data and backups are."""
    try:
        nodes = engine.nodes()
        problems = _platform_problems(engine, settings, project, environment)
        problems += _data_node_problems(engine, nodes, project)
    except PlatformError as error:
        return Check(SWARM, False, str(error))
    if problems:
        return Check(SWARM, False, "; ".join(problems))
    ready = sum(node.state == "ready" and node.availability == "active" for node in nodes)
    return Check(SWARM, True, f"{ready} of {len(nodes)} nodes ready; {network_name(project.name, environment)} "
                              "joined by the platform's services")


def platform_services(settings, project, environment: str) -> list[str]:
    target = project.database_target(environment, settings.postgres_container)
    return [settings.nginx_container] + ([target.container] if target is not None else [])


def _platform_problems(engine, settings, project, environment: str) -> list[str]:
    network = network_name(project.name, environment)
    network_id = engine.network_id(network)
    if network_id is None:
        return [f"network {network} does not exist; run `invoke platform.up` (it makes every project's network)"]
    problems = []
    for name in platform_services(settings, project, environment):
        state = engine.service(name)
        if state is None:
            problems.append(f"service {name} is not on this swarm; run `invoke platform.up`")
            continue
        joined = {attachment.get("Target") for attachment in state.spec["TaskTemplate"].get("Networks") or ()}
        if not joined & {network, network_id}:
            problems.append(f"{name} does not join network {network}; run `invoke platform.up` (on a swarm it "
                            "restarts nginx on the edge nodes: do it in a quiet moment)")
    return problems


def _data_node_problems(engine, nodes, project) -> list[str]:
    if project.database is None and not any(container.volumes for container in project.containers):
        return []
    here = engine.local_node_id()
    node = next((node for node in nodes if node.id == here), None)
    if node is not None and node.labels.get(DB_LABEL) == "true":
        return []
    name = node.hostname if node is not None else here
    return [f"this manager ({name}) is not the node labelled {DB_LABEL}=true, where postgres-platform and the "
            "volumes live and backups are made; run the deploy there (or move the label: docs/SWARM.md)"]
