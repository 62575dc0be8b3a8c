"""The Swarm backend's pure parts: service specs from the plan, digest pinning, job names, waiting on tasks,
and the rollback's order. The deploy itself runs against the lab (tests/integration/test_swarm_deploy.py)."""

import pytest

from platform_deploy.config.validate import validate
from platform_deploy.deploy.probes import CheckFailed
from platform_deploy.engine import ExecResult, ImageInfo, NodeState, ServiceState, TaskState
from platform_deploy.engine.swarm import _by_digest
from platform_deploy.errors import PlatformError
from platform_deploy.plan import make_plan
from platform_deploy.state.records import Migration, Phase, RoleNames
from platform_deploy.swarm import recover, rollout, services

DEPLOY_ID = "20261202080000-abcd"


def plan_of(containers: dict):
    registry = validate({"projects": {"shop": {
        "domains": {"production": "shop.example"}, "containers": containers}}})
    return make_plan(registry.project("shop"), "production", "v2", DEPLOY_ID)


def test_a_role_becomes_a_service_on_the_project_overlay_with_its_replicas_placement_and_grace():
    plan = plan_of({"backend": {"name": "shop-api", "port": 3000, "image": "reg.example/api", "replicas": 3,
                                "placement": ["node.labels.zone == a"], "drain_timeout": 25}})
    role = plan.roles[0]
    spec = services.role_spec(plan, role, "reg.example/api:v2@sha256:1", {"KEY": "value"}, role.new_name)
    assert (spec.name, spec.image, spec.networks, spec.replicas) == (
        role.new_name, "reg.example/api:v2@sha256:1", ("shop-production",), 3)
    assert spec.constraints == ("node.labels.zone==a",)
    assert spec.stop_grace_seconds == 25
    assert spec.labels["platform.deploy-id"] == DEPLOY_ID


def test_a_role_with_volumes_runs_on_the_database_node_where_its_data_and_backups_are():
    plan = plan_of({"backend": {"name": "shop-api", "port": 3000, "image": "reg.example/api",
                                "volumes": {"shop-uploads": "/data"}}})
    spec = services.role_spec(plan, plan.roles[0], "img", {}, "shop-api-production")
    assert spec.constraints == (services.VOLUME_NODE,)
    assert spec.volumes == (("shop-uploads-production", "/data"),)


def test_the_pinned_reference_is_the_registry_digest_of_the_deployed_repository_with_the_tag_for_people():
    image = ImageInfo("sha256:local", "other.example/api@sha256:0",
                      digests=("other.example/api@sha256:0", "reg.example/api@sha256:1"))
    assert services.pinned(image, "reg.example/api", "v2") == "reg.example/api:v2@sha256:1"
    with pytest.raises(PlatformError, match="reg.example/api has no digest from its registry"):
        services.pinned(ImageInfo("sha256:local", None), "reg.example/api", "v2")


@pytest.mark.parametrize("reference, expected", [
    ("10.123.0.1:5000/demo-backend:v2@sha256:ab", ("10.123.0.1:5000/demo-backend", "sha256:ab")),
    ("10.123.0.1:5000/demo-backend@sha256:ab", ("10.123.0.1:5000/demo-backend", "sha256:ab")),
    ("registry:5000/team/app:v1", ("registry:5000/team/app", "")),
    ("registry:5000/app", ("registry:5000/app", "")),
])
def test_a_service_image_splits_into_its_repository_and_digest_whatever_tag_or_registry_port(reference, expected):
    assert _by_digest(reference) == expected


def test_a_job_name_fits_a_service_name_and_is_marked():
    name = services._job_name("x" * 70)
    assert len(name) <= 63 and services.JOB_MARK in name


class Tasks:
    """service_tasks answers, one list per call (the last repeats)."""

    def __init__(self, *answers):
        self.answers = list(answers)

    def service_tasks(self, labels):
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def nodes(self):
        return [NodeState("node1", "host-1", "manager", True, "active", "ready", "10.0.0.1", "20.10.24"),
                NodeState("node2", "host-2", "worker", False, "active", "down", "10.0.0.2", "20.10.24")]


def task(state, deploy_id=DEPLOY_ID, desired="running", error="", exit_code=None):
    return TaskState(service="api", slot=1, node_id="node1", state=state, desired_state=desired, error=error,
                     exit_code=exit_code, container_labels={rollout.DEPLOY_ID_LABEL: deploy_id})


LABELS = {rollout.DEPLOY_ID_LABEL: DEPLOY_ID}


def test_waiting_ends_once_the_deploys_tasks_run_and_no_older_one_is_meant_to():
    older = task("running", deploy_id="old")
    engine = Tasks([task("starting"), older], [task("running"), older],
                   [task("running"), task("shutdown", deploy_id="old", desired="shutdown")])
    live = rollout.wait_up(engine, "api", LABELS, replicas=1, timeout=10)
    assert [t.state for t in live] == ["running"] and not engine.answers[1:]


def test_a_task_on_a_node_that_went_down_does_not_count_as_up():
    on_lost_node = TaskState(service="api", slot=2, node_id="node2", state="running", desired_state="running",
                             container_labels=LABELS)
    with pytest.raises(CheckFailed, match=r"^api: 1 of 2 tasks running after 0s \(running\)$"):
        rollout.wait_up(Tasks([task("running"), on_lost_node]), "api", LABELS, replicas=2, timeout=0)


def test_a_task_of_the_deploy_that_ends_fails_at_once_with_its_reason():
    engine = Tasks([task("starting")], [task("failed", desired="shutdown", error="unhealthy container", exit_code=1)])
    with pytest.raises(CheckFailed, match=r"^api: a task ended \(unhealthy container, exit code 1\)$"):
        rollout.wait_up(engine, "api", LABELS, replicas=1, timeout=10)


def test_too_few_tasks_by_the_timeout_fail_with_what_was_seen():
    with pytest.raises(CheckFailed, match=r"^api: 0 of 2 tasks running after 0s \(starting\)$"):
        rollout.wait_up(Tasks([task("starting")]), "api", LABELS, replicas=2, timeout=0)


class Swarm:
    """Services by name; records what the rollback does, in order."""

    def __init__(self, services_):
        self.services_ = services_
        self.calls = []

    def service(self, name):
        return self.services_.get(name)

    def repost_service(self, name, spec):
        self.calls.append(("repost", name, spec["TaskTemplate"]["ContainerSpec"]["Image"]))

    def remove_service(self, name):
        self.calls.append(("remove", name))

    def service_tasks(self, labels):
        return [task("running", deploy_id=labels[rollout.DEPLOY_ID_LABEL])]

    def nodes(self):
        return []


def rolled(deploy_id, image, previous=None):
    spec = {"TaskTemplate": {"ContainerSpec": {"Image": image, "Labels": {rollout.DEPLOY_ID_LABEL: deploy_id}}},
            "Labels": {rollout.DEPLOY_ID_LABEL: deploy_id}}
    return ServiceState("id", "api", 1, {}, image, 1, spec=spec, previous_spec=previous and previous.spec)


class Jobs:
    def __init__(self, code=0):
        self.code, self.ran = code, []

    def exec_run(self, name, argv, environment=None, output_expected=False):
        self.ran.append((name, argv))
        return ExecResult(self.code, "boom" if self.code else "")


ROLE = RoleNames("backend", "api", "api-next", 3000, 10)
MIGRATION = Migration("api-next", "alembic upgrade head", True, "0001", "0002")


def test_the_rollback_puts_the_previous_spec_back_then_reverses_the_migration_then_removes_the_candidates():
    before = rolled("old", "api:v1@sha256:1")
    swarm = Swarm({"api": rolled(DEPLOY_ID, "api:v2@sha256:2", previous=before)})
    jobs, actions = Jobs(), []
    assert recover.undo(swarm, [ROLE], DEPLOY_ID, Phase.SWITCHING, jobs, [MIGRATION], actions.append)
    assert swarm.calls == [("repost", "api", "api:v1@sha256:1"), ("remove", "api-next")]
    assert jobs.ran == [("api-next", ["alembic", "downgrade", "0001"])]
    assert [str(action) for action in actions] == ["api back on api:v1", "database downgraded to 0001",
                                                   "removed api-next"]


def test_a_live_service_not_rolled_yet_is_left_alone_and_one_this_deploy_created_is_removed():
    untouched = Swarm({"api": rolled("old", "api:v1@sha256:1")})
    assert recover.undo(untouched, [ROLE], DEPLOY_ID, Phase.SWITCHING, Jobs(), [], lambda action: None)
    assert untouched.calls == [("remove", "api-next")]
    first = Swarm({"api": rolled(DEPLOY_ID, "api:v2@sha256:2")})
    assert recover.undo(first, [ROLE], DEPLOY_ID, Phase.SWITCHING, Jobs(), [], lambda action: None)
    assert first.calls == [("remove", "api"), ("remove", "api-next")]


def test_a_downgrade_that_fails_keeps_the_candidates_for_recover_and_gives_up_only_when_told():
    swarm, actions = Swarm({}), []
    assert not recover.undo(swarm, [ROLE], DEPLOY_ID, Phase.MIGRATE, Jobs(code=1), [MIGRATION], actions.append)
    assert swarm.calls == [] and str(actions[-1]).startswith("FAILED: kept api-next for deploy.recover")
    assert recover.undo(swarm, [ROLE], DEPLOY_ID, Phase.MIGRATE, Jobs(code=1), [MIGRATION], actions.append,
                        give_up=True)
    assert swarm.calls == [("remove", "api-next")]


def test_the_dry_run_on_a_swarm_shows_services_jobs_tasks_and_the_start_first_roll(capsys):
    from platform_deploy.tasks.deploy import _print_swarm_plan

    plan = plan_of({"backend": {"name": "shop-api", "port": 3000, "image": "reg.example/api", "replicas": 3,
                                "placement": ["node.labels.zone==a"]},
                    "frontend": {"name": "shop-web", "port": 80, "image": "reg.example/web", "migrations": False}})
    _print_swarm_plan(plan)
    shown = capsys.readouterr().out.splitlines()
    assert shown[0] == "plan for shop/production 'v2' on the swarm (dry run: nothing changes)"
    assert (f"  backend: pull reg.example/api:v2 on the manager, pinned by digest; service "
            f"shop-api-production-next-{DEPLOY_ID} (3 tasks, on node.labels.zone==a) beside service "
            "shop-api-production; migrations as a job of it; health from its tasks within 60s; smoke /health or / "
            "on each task; then shop-api-production rolls to it start-first") == shown[2]
    assert "(1 task) beside service shop-web-production; no migrations;" in shown[3]


class Cluster:
    """What the swarm pre-flight reads: nodes, networks by name, services, this node."""

    def __init__(self, networks=("shop-production",), joined=("net-id",), here="n1", db_node="n1"):
        self.networks, self.joined, self.here, self.db_node = networks, joined, here, db_node

    def nodes(self):
        return [NodeState(id, f"host-{id}", "manager" if id == "n1" else "worker", id == "n1", "active", "ready",
                          "10.0.0.1", "20.10.24", {"platform.db": "true"} if id == self.db_node else {})
                for id in ("n1", "n2")]

    def network_id(self, name):
        return "net-id" if name in self.networks else None

    def service(self, name):
        spec = {"TaskTemplate": {"Networks": [{"Target": target} for target in self.joined]}}
        return ServiceState("id", name, 1, {}, "img", None, spec=spec)

    def local_node_id(self):
        return self.here


def preflight_of(cluster, containers=None):
    from platform_deploy.settings import Settings
    from platform_deploy.swarm import preflight

    registry = validate({"projects": {"shop": {"domains": {"production": "shop.example"}, "containers": containers
                                               or {"backend": {"name": "shop-api", "port": 3000}}}}})
    return preflight.check(cluster, Settings(), registry.project("shop"), "production")


def test_the_swarm_preflight_passes_with_the_network_joined_and_counts_ready_nodes():
    check = preflight_of(Cluster())
    assert check.ok and check.detail == "2 of 2 nodes ready; shop-production joined by the platform's services"


@pytest.mark.parametrize("cluster, problem", [
    (Cluster(networks=()), "network shop-production does not exist; run `invoke platform.up`"),
    (Cluster(joined=("other",)), "platform-nginx does not join network shop-production; run `invoke platform.up`"),
])
def test_the_swarm_preflight_fails_in_one_line_saying_what_to_run(cluster, problem):
    check = preflight_of(cluster)
    assert not check.ok and check.detail.startswith(problem)


def test_a_project_with_volumes_is_deployed_from_the_database_node_only():
    volumes = {"backend": {"name": "shop-api", "port": 3000, "volumes": {"shop-data": "/data"}}}
    assert preflight_of(Cluster(here="n2"), volumes).detail.startswith(
        "this manager (host-n2) is not the node labelled platform.db=true")
    assert preflight_of(Cluster(here="n2")).ok, "a stateless project may be deployed from any manager"
