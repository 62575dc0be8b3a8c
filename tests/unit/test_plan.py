"""plan.py and the dry run that prints it: a role's replicas and placement, shown only when not the defaults."""

from platform_deploy.plan import make_plan
from platform_deploy.tasks.deploy import _print_plan

PROJECTS_YML = """\
projects:
  demo:
    domains:
      production: demo.example.com
    containers:
      backend:
        name: demo-backend
        port: 3000
        image: ghcr.io/user/demo-backend
        replicas: 3
        placement: ["node.labels.zone == a", "node.role!=manager"]
      frontend:
        name: demo-frontend
        port: 80
        image: ghcr.io/user/demo-frontend
        placement: node.platform.arch == aarch64
      worker:
        name: demo-worker
        port: 9000
        image: ghcr.io/user/demo-worker
        replicas: 1
"""
DEPLOY_ID = "20260101000000-abcd"


def plan(load):
    return make_plan(load(PROJECTS_YML).project("demo"), "production", "v1", DEPLOY_ID)


def test_the_plan_carries_each_roles_replicas_and_placement(load):
    assert [(role.role, role.replicas, role.placement) for role in plan(load).roles] == [
        ("backend", 3, ("node.labels.zone==a", "node.role!=manager")),
        ("frontend", 1, ("node.platform.arch==aarch64",)),
        ("worker", 1, ()),
    ]


def test_the_dry_run_names_replicas_and_placement_only_when_not_the_defaults(load, capsys):
    _print_plan(plan(load))
    lines = capsys.readouterr().out.splitlines()
    start = f"start demo-{{role}}-production-next-{DEPLOY_ID} beside demo-{{role}}-production"
    assert lines[2:5] == [
        f"  backend: pull ghcr.io/user/demo-backend:v1; {start.format(role='backend')}; health within 60s; "
        "smoke /health or /; 3 replicas; placement node.labels.zone==a, node.role!=manager",
        f"  frontend: pull ghcr.io/user/demo-frontend:v1; {start.format(role='frontend')}; health within 60s; "
        "smoke /health or /; placement node.platform.arch==aarch64",
        f"  worker: pull ghcr.io/user/demo-worker:v1; {start.format(role='worker')}; health within 60s; "
        "smoke /health or /",
    ]
