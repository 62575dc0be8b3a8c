"""Watching a service's tasks until a deploy's own are up, or one of them failed."""

import time

from ..deploy.probes import CheckFailed
from ..naming import LABEL_PREFIX

DEPLOY_ID_LABEL = f"{LABEL_PREFIX}deploy-id"
# A deploy's task of a service that should run forever has failed once it is in one of these.
ENDED = frozenset({"complete", "failed", "rejected", "shutdown", "orphaned", "remove"})
POLL_SECONDS = 0.25


def wait_up(engine, name: str, labels: dict, replicas: int, timeout: float, awaiting=lambda text: None) -> list:
    """Until ``name`` runs ``replicas`` tasks of the deploy in ``labels`` (with a HEALTHCHECK, Swarm says running
    only once it passed) and none of another deploy is meant to run; fail at once when one of its tasks failed.
    Returns the deploy's running tasks."""
    deploy_id = labels[DEPLOY_ID_LABEL]
    started = time.monotonic()
    while True:
        tasks = [task for task in engine.service_tasks(labels) if task.service == name]
        ours = [task for task in tasks if task.container_labels.get(DEPLOY_ID_LABEL) == deploy_id]
        ended = [task for task in ours if task.state in ENDED]
        if ended:
            raise CheckFailed(f"{name}: a task ended ({_why(ended[0])})")
        # A task on a node that stopped answering is not counted: Swarm starts another one elsewhere.
        lost = {node.id for node in engine.nodes() if node.state != "ready"}
        live = [task for task in ours if task.live and task.node_id not in lost]
        others = [task for task in tasks if task not in ours and task.desired_state == "running"]
        if len(live) >= replicas and not others:
            return live
        waited = time.monotonic() - started
        if waited > timeout:
            raise CheckFailed(f"{name}: {len(live)} of {replicas} tasks running after {timeout:g}s "
                              f"({', '.join(sorted({task.state for task in ours})) or 'none scheduled'})")
        awaiting(f"{name}: {len(live)} of {replicas} tasks up, {int(waited)} s of {timeout:g}")
        time.sleep(POLL_SECONDS)


def _why(task) -> str:
    exit_code = f"exit code {task.exit_code}" if task.exit_code is not None else task.state
    return f"{task.error}, {exit_code}" if task.error else exit_code

