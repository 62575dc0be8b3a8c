"""Watching a service's tasks until a deploy's own are up, or one of them failed."""

import time

from ..deploy.probes import CheckFailed
from ..naming import LABEL_PREFIX

DEPLOY_ID_LABEL = f"{LABEL_PREFIX}deploy-id"
FAILED = frozenset({"failed", "rejected", "orphaned"})
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
        failed = [task for task in ours if task.state in FAILED or (task.error and task.desired_state != "running")]
        if failed:
            raise CheckFailed(f"{name}: a task {failed[0].state}: {failed[0].error or 'no reason given'}")
        live = [task for task in ours if task.live]
        others = [task for task in tasks if task not in ours and task.desired_state == "running"]
        if len(live) >= replicas and not others:
            return live
        waited = time.monotonic() - started
        if waited > timeout:
            raise CheckFailed(f"{name}: {len(live)} of {replicas} tasks running after {timeout:g}s "
                              f"({', '.join(sorted({task.state for task in ours})) or 'none scheduled'})")
        awaiting(f"{name}: {len(live)} of {replicas} tasks up, {int(waited)} s of {timeout:g}")
        time.sleep(POLL_SECONDS)


def wait_gone(engine, name: str, labels: dict, timeout: float) -> None:
    """Until no task of ``name`` runs any more (a removed service's tasks stop in the background)."""
    deadline = time.monotonic() + timeout
    while any(task.service == name and task.state == "running" for task in engine.service_tasks(labels)):
        if time.monotonic() > deadline:
            return   # still stopping: nothing routes to it, the swarm finishes on its own
        time.sleep(POLL_SECONDS)
