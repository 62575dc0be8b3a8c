"""swarm: the cluster the platform runs on when it outgrows one server (docs/SWARM.md, bin/start-swarm-lab)."""

import json as json_module

from invoke import task

from .common import engine_from, settings_from, user_errors


@task(help={"json": "print JSON instead of text"})
@user_errors
def status(ctx, json=False):
    """The swarm's nodes (role, availability, state, labels, engine version) and which projects run where.
    Talks to the manager node DOCKER_HOST points at."""
    from ..status import swarm

    engine = engine_from(settings_from(ctx))
    shaped = swarm.view(engine.nodes(), engine.service_tasks({}))
    print(json_module.dumps(shaped, indent=2) if json else swarm.text(shaped))
