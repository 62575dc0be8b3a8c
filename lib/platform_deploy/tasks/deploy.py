"""deploy: blue/green deploy of one project/environment, and recovery after a killed deploy."""

from invoke import task

from ..steps import STEPS
from .common import deployment_class, engine_from, registry_from, settings_from, user_errors

# The pipeline and its Docker client are imported inside the tasks: every other
# command (status above all) loads this module too and must stay fast.


@task(default=True, help={
    "project": "project name from config/projects.yml",
    "env": "staging (default) or production; production is deployed only when named",
    "tag": "image tag to deploy (default: latest)",
    "force": "go on when pre-flight checks or the backup fail (recorded in the manifest)",
    "skip-backup": "do not back up first (not recommended)",
    "dry-run": "print the plan; change nothing",
})
@user_errors
def deploy(ctx, project, env="staging", tag="latest", force=False, skip_backup=False, dry_run=False):
    """Deploy a project: new containers beside the live ones, checked, then traffic switched."""
    from ..deploy import pipeline
    from ..plan import make_plan, new_deploy_id
    from ..report import console_report

    settings = settings_from(ctx)
    registry = registry_from(settings)
    if dry_run:
        plan = make_plan(registry.project(project), env, tag, new_deploy_id())
        registry.project(project).database_target(env, settings.postgres_container)   # refuses a foreign one
        _print_swarm_plan(plan) if settings.on_swarm else _print_plan(plan)
        return
    options = pipeline.Options(tag=tag, force=force, skip_backup=skip_backup)
    deployment_class(settings)(engine_from(settings), settings, registry, project, env, options,
                                console_report()).run()


@task(help={"project": "project name", "env": "environment (staging or production)",
            "abandon": "a migration cannot be reversed: remove the deploy's containers anyway "
                       "(then restore the database from the backup)"})
@user_errors
def recover(ctx, project, env, abandon=False):
    """Clean up after a killed deploy: finish its switch or undo it (deploy does this itself first)."""
    from ..report import console_report
    from ..state.lock import DeployLock

    settings = settings_from(ctx)
    entry = registry_from(settings).project(project)
    entry.check_environment(env)
    with DeployLock(settings, project, env):
        if not _recovery(settings).recover(engine_from(settings), settings, entry, env, console_report(),
                                           give_up=abandon):
            print(f"{project}/{env}: no interrupted deploy to clean up")


def _recovery(settings):
    if settings.on_swarm:
        from ..swarm import recover
    else:
        from ..deploy import recover
    return recover


def _print_plan(plan) -> None:
    print(f"plan for {plan.project}/{plan.environment} {plan.tag!r} (dry run: nothing changes)")
    print(f"  network {plan.network}; traffic check via {plan.domains[0]}")
    for role in plan.roles:
        print(f"  {role.role}: pull {role.image}; start {role.new_name} beside {role.live_name}; "
              f"health within {role.health_timeout}s; smoke {', '.join(role.smoke_paths or ('/health or /',))}"
              f"{_swarm_keys(role)}")
    print(f"  steps: {', '.join(step.short for step in STEPS)}")


def _print_swarm_plan(plan) -> None:
    print(f"plan for {plan.project}/{plan.environment} {plan.tag!r} on the swarm (dry run: nothing changes)")
    print(f"  overlay {plan.network}; traffic check via {plan.domains[0]}")
    for role in plan.roles:
        where = ", ".join(role.placement + (("the platform.db node (volumes)",) if role.volumes else ()))
        migrations = "no migrations" if role.migrations is False else "migrations as a job of it"
        print(f"  {role.role}: pull {role.image} on the manager, pinned by digest; service {role.new_name} "
              f"({role.replicas} task{'s' if role.replicas > 1 else ''}{', on ' + where if where else ''}) beside "
              f"service {role.live_name}; {migrations}; health from its tasks within {role.health_timeout}s; "
              f"smoke {', '.join(role.smoke_paths or ('/health or /',))} on each task; "
              f"then {role.live_name} rolls to it start-first")
    print(f"  steps: {', '.join(step.short for step in STEPS)}")


def _swarm_keys(role) -> str:
    """The role's replicas and placement when they are not the defaults, e.g. ``; 3 replicas``."""
    shown = [f"{role.replicas} replicas"] if role.replicas > 1 else []
    shown += [f"placement {', '.join(role.placement)}"] if role.placement else []
    return "".join(f"; {part}" for part in shown)
