"""`invoke swarm.status`: the swarm's nodes and which projects' tasks run on which, shaped for text or JSON.

Pure: it gets the engine's NodeState and TaskState records (engine/__init__.py) and reads nothing itself.
"""

from ..naming import LABEL_PREFIX
from ..textutil import printable

PROJECT, ENVIRONMENT, ROLE = (f"{LABEL_PREFIX}{key}" for key in ("project", "environment", "role"))


def view(nodes, tasks) -> dict:
    """{"nodes": [...], "services": [...]}: every node, and each project's service (labelled with its project;
    other services are not ours to show) with its wanted tasks."""
    hostnames = {node.id: node.hostname for node in nodes}
    services: dict[str, dict] = {}
    for task in sorted(tasks, key=lambda task: (task.service, task.slot or 0, task.node_id)):
        if task.desired_state != "running" or PROJECT not in task.labels:
            continue   # replaced or shut down (history, not where the project runs), or not a project's
        entry = services.setdefault(task.service, {
            "service": task.service, "project": task.labels.get(PROJECT), "environment": task.labels.get(ENVIRONMENT),
            "role": task.labels.get(ROLE), "tasks": []})
        entry["tasks"].append({"node": hostnames.get(task.node_id, task.node_id or "(unassigned)"), "slot": task.slot,
                               "state": task.state, "error": task.error})
    return {
        "nodes": [{"hostname": node.hostname, "id": node.id, "role": node.role, "leader": node.leader,
                   "availability": node.availability, "state": node.state, "address": node.address,
                   "engine_version": node.engine_version, "labels": dict(sorted(node.labels.items()))}
                  for node in sorted(nodes, key=lambda node: (node.role != "manager", node.hostname, node.id))],
        "services": sorted(services.values(), key=lambda entry: (entry["project"] or "", entry["environment"] or "",
                                                                  entry["role"] or "", entry["service"])),
    }


def text(shaped: dict) -> str:
    nodes = shaped["nodes"]
    ready = sum(node["state"] == "ready" for node in nodes)
    managers = sum(node["role"] == "manager" for node in nodes)
    lines = [f"swarm: {len(nodes)} node(s), {managers} manager(s), {ready} ready"]
    width = max((len(node["hostname"]) for node in nodes), default=0)
    for node in nodes:
        role = f"{node['role']}{' (leader)' if node['leader'] else ''}"
        labels = ", ".join(f"{key}={value}" for key, value in node["labels"].items())
        lines.append(printable(f"  {node['hostname']:<{width}}  {role:<16} {node['availability']:<7} "
                               f"{node['state']:<8} {node['address']:<15} engine {node['engine_version']}"
                               f"{'  ' + labels if labels else ''}").rstrip())
    lines.append("projects:" if shaped["services"] else "projects: none on this swarm")
    for service in shaped["services"]:
        placed = ", ".join(f"{task['node']} {task['state']}{' (' + task['error'] + ')' if task['error'] else ''}"
                           for task in service["tasks"])
        lines.append(printable(f"  {service['project']}/{service['environment']} {service['role']} "
                               f"({service['service']}): {placed}"))
    return "\n".join(lines)
