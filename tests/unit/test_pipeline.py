"""Every decision of the deploy pipeline, on the FakeEngine (no Docker).

Each test runs a whole Deployment of the `shop` project (tests/deploy_world.py) and
checks what it left behind: the manifest entry and the journal on disk, the containers
in the fake, the database's Alembic revision, and the engine calls in order. The real
thing runs in tests/integration (test_deploy.py, test_faults.py); killed deploys and
`recover` are in test_recovery.py.
"""

import re
import time

import pytest
from deploy_world import (BACKEND, BACKEND_REPO, ENV, FRONTEND, FRONTEND_REPO, LIVE, NETWORK, NGINX, POSTGRES,
                          PORTS, PROJECT, PROJECTS_YML, VOLUME, actions, subsequence)

from platform_deploy.config import load_registry
from platform_deploy import steps
from platform_deploy.deploy import pipeline, switch
from platform_deploy.engine import Conflict, EngineUnavailable, Refused
from platform_deploy.errors import PlatformError
from platform_deploy.report import ConsoleReport
from platform_deploy.state.lock import DeployLock

STEPS = ["pre-flight", "backup", "pull", "start candidates", "migrations", "health", "smoke tests",
         "switch traffic", "cleanup"]
NGINX_CHECK = "http://127.0.0.1/"   # the request through platform-nginx after the switch (no certificate: HTTP)
V1 = {BACKEND: f"{BACKEND_REPO}:v1", FRONTEND: f"{FRONTEND_REPO}:v1"}
V2 = {BACKEND: f"{BACKEND_REPO}:v2", FRONTEND: f"{FRONTEND_REPO}:v2"}
SERVING_V1 = f"{BACKEND} ({BACKEND_REPO}:v1), {FRONTEND} ({FRONTEND_REPO}:v1)"
LOST = EngineUnavailable("cannot reach the Docker engine: connection refused")


def candidates(world) -> tuple[str, str]:
    """The candidate names of the last deploy (backend, frontend)."""
    deploy_id = world.last()["deploy_id"]
    return world.candidate(BACKEND, deploy_id), world.candidate(FRONTEND, deploy_id)


def removed_line(world) -> str:
    return f"removed {', '.join(candidates(world))}"


def rolled_back_summary(reason: str) -> str:
    return f"deploy of {PROJECT}/{ENV} 'v2' rolled back: {reason}; serving {SERVING_V1}"


def assert_v1_untouched(world, before: dict) -> None:
    """The live v1 containers are the same ones, running; no candidate or hold is left."""
    assert world.containers() == before and world.holds() == []
    assert world.serving() == V1
    assert world.leftovers() == []
    assert world.manifest()["current_deployment"]["version"] == "v1"


# -- success ------------------------------------------------------------------------------------------


def test_first_deploy_records_success_and_leaves_no_journal(world):
    entry = world.deploy("v1")
    manifest = world.manifest()
    assert manifest["current_deployment"] == manifest["last_attempt"] == entry
    assert [e["status"] for e in manifest["deployment_history"]] == ["success"]
    assert entry["version"] == "v1" and entry["failure"] is None and entry["rollback"] == []
    assert [(s["name"], s["status"]) for s in entry["steps"]] == [(name, "ok") for name in STEPS]
    assert world.step("switch traffic")["detail"] == "shop.test -> 200; replaced nothing (first deploy)"
    assert entry["images"] == {"backend": f"{BACKEND_REPO}:v1", "frontend": f"{FRONTEND_REPO}:v1"}
    assert entry["image_digests"]["backend"] == f"{BACKEND_REPO}@sha256:{1:064x}"
    assert world.journal() is None


def test_first_deploy_migrates_from_base(world):
    entry = world.deploy("v1")
    assert world.engine.revision == "0001"
    backend, _ = candidates(world)
    assert entry["migrations"] == [{"container": backend, "command": "alembic upgrade head", "alembic": True,
                                    "before": None, "after": "0001"}]


def test_first_deploy_exposes_and_renames_the_candidates_with_nothing_to_stop(world):
    world.deploy("v1")
    backend, frontend = candidates(world)
    done = actions(world.engine)
    assert subsequence(done, [("run", backend), ("run", frontend), ("alembic", "upgrade head"),
                              ("connect", backend, [BACKEND]), ("connect", frontend, [FRONTEND]),
                              ("request", NGINX_CHECK), ("rename", backend, BACKEND), ("rename", frontend, FRONTEND)])
    assert not [a for a in done if a[0] in ("stop", "hold", "guard", "start")]
    assert world.serving() == V1 and world.leftovers() == []
    assert world.engine.aliases(BACKEND, NETWORK) == [BACKEND]
    assert NETWORK in world.engine.containers[NGINX].networks and NETWORK in world.engine.containers[POSTGRES].networks


def test_a_guard_keeps_nginx_off_the_candidates_until_they_take_packets(live):
    """Docker's DNS answers the live name with a candidate's address a moment before the address takes packets:
    a guard beside nginx, with the live containers' addresses left open, is in place before the candidates get
    the alias, and the old containers are closed only once it has opened."""
    old = {name: live.engine.containers[name].networks[NETWORK][0] for name in LIVE}
    live.deploy("v2")
    done = actions(live.engine)
    guard = ("guard", f"{old[BACKEND]},{old[FRONTEND]}", (f"{BACKEND}=8000", f"{FRONTEND}=80"))
    assert done.count(guard) == 1
    first_alias = min(i for i, a in enumerate(done) if a[0] == "connect" and a[2])
    first_close = min(i for i, a in enumerate(done) if a[0] in ("drain", "hold"))
    assert done.index(guard) < first_alias < first_close
    assert live.holds() == [] and not [name for name in live.engine.containers if name.startswith("guard-")]


def test_candidates_warm_up_at_a_low_cpu_weight_and_serve_at_the_full_one(live):
    """A candidate's start-up must not take CPU time from the live containers: it runs at an eighth of their
    weight until it gets the live name, and at the full weight from then on; a failed one is never raised."""
    live.deploy("v2")
    live.engine.registry[f"{BACKEND_REPO}:v3"].health = "unhealthy"
    live.failed_deploy("v3")
    started = live.engine.specs[-4:]   # v2's candidates, then v3's
    assert [spec.cpu_shares for spec in started] == [switch.WARMING_CPU_SHARES] * 4
    raised = [args for _, args in live.engine.logged("set_cpu_shares")]
    assert sorted(raised) == sorted((spec.name, switch.SERVING_CPU_SHARES) for spec in started[:2])
    assert {live.engine.containers[name].cpu_shares for name in LIVE} == {switch.SERVING_CPU_SHARES}


def test_second_deploy_records_success_and_moves_the_database(live):
    entry = live.deploy("v2")
    manifest = live.manifest()
    assert manifest["current_deployment"] == entry and entry["status"] == "success" and entry["version"] == "v2"
    assert [e["version"] for e in manifest["deployment_history"]] == ["v2", "v1"]
    assert [(s["name"], s["status"]) for s in entry["steps"]] == [(name, "ok") for name in STEPS]
    assert live.step("migrations")["detail"] == "backend: 0001 -> 0002"
    assert live.step("switch traffic")["detail"] == f"shop.test -> 200; replaced {BACKEND}, {FRONTEND}"
    assert [(m["before"], m["after"]) for m in entry["migrations"]] == [("0001", "0002")]
    assert live.engine.revision == "0002"
    assert live.journal() is None
    assert live.out.getvalue().rstrip().endswith(f"serving {BACKEND} ({BACKEND_REPO}:v2), "
                                                 f"{FRONTEND} ({FRONTEND_REPO}:v2)")


def test_second_deploy_switches_each_role_old_to_new_in_order(live):
    """Alias; redirect nginx from the old ones to the new ones (a hold beside nginx); check through nginx;
    rename. Only then, once the deploy has reported, drain, stop and remove the old ones and lift the hold."""
    old_ids = {name: live.engine.containers[name].id for name in LIVE}
    address = {name: live.engine.containers[name].networks[NETWORK][0] for name in LIVE}
    live.deploy("v2")
    done = actions(live.engine)
    new_address = {name: live.engine.containers[name].networks[NETWORK][0] for name in LIVE}
    hold = ("hold", tuple(f"{address[name]}:{PORTS[name]}>{new_address[name]}" for name in LIVE))
    for old, new in zip(LIVE, candidates(live)):
        retired = old + "-retired-" + new.rsplit("-next-", 1)[1]
        assert subsequence(done, [("disconnect", new), ("connect", new, [old]), hold, ("request", NGINX_CHECK),
                                  ("rename", old, retired), ("rename", new, old), ("drain", old_ids[old]),
                                  ("stop", old_ids[old]), ("remove", old_ids[old]), ("lift", "hold")]), (old, done)
    # Across roles: both names resolve to old and new before anything is redirected; one hold for both;
    # nothing old is stopped before the check passed and the new ones carry the live names.
    last_alias = max(i for i, a in enumerate(done) if a[0] == "connect" and a[2])
    last_rename = max(i for i, a in enumerate(done) if a[0] == "rename")
    assert last_alias < done.index(hold) and done.count(hold) == 1
    assert all(i > last_rename for i, a in enumerate(done) if a in [("stop", id_) for id_ in old_ids.values()])
    assert done[-1] == ("lift", "hold")
    stops = {args[0]: args[1] for _, args in live.engine.logged("stop")}
    assert [stops[id_] for id_ in old_ids.values()] == [switch.STOP_AFTER_DRAIN_SECONDS] * 2
    # The live names now belong to the former candidates; the v1 containers and the hold are gone.
    assert live.serving() == V2 and live.leftovers() == [] and live.holds() == []
    assert not {live.engine.containers[name].id for name in LIVE} & set(old_ids.values())
    assert live.engine.aliases(BACKEND, NETWORK) == [BACKEND]


def test_a_stopped_live_container_is_not_handed_over_but_replaced(live):
    """The v1 backend had crashed: only the frontend drains; the dead backend is removed for the rename."""
    live.engine.stop(BACKEND)
    live.forget_calls()
    frontend = live.engine.containers[FRONTEND]
    live.deploy("v2")
    backend, _ = candidates(live)
    done = actions(live.engine)
    assert [a for a in done if a[0] in ("stop", "hold", "drain")] == [
        ("hold", (f"{frontend.networks[NETWORK][0]}:80>{live.engine.containers[FRONTEND].networks[NETWORK][0]}",)),
        ("drain", frontend.id), ("stop", frontend.id)]
    assert subsequence(done, [("request", NGINX_CHECK), ("remove", BACKEND), ("rename", backend, BACKEND)])
    assert live.step("switch traffic")["detail"] == f"shop.test -> 200; replaced {FRONTEND}"
    assert live.serving() == V2 and live.leftovers() == []


def test_deploy_with_backup_archives_dumps_and_tags_the_live_version_before_pulling(live):
    entry = live.deploy("v2", skip_backup=False)
    name = entry["backup"]
    assert re.fullmatch(r"backup_\d{8}_\d{6}", name) and live.step("backup")["detail"] == name
    assert entry["skip_backup"] is False
    backups = live.settings.backups_dir / PROJECT / ENV
    assert (backups / f"{name}.meta").is_file()
    assert sorted(p.name for p in (backups / name / "database").iterdir()) == ["shop.dump"]
    tags = [f"{BACKEND_REPO}:{name}-{ENV}", f"{FRONTEND_REPO}:{name}-{ENV}"]
    assert all(live.engine.images[tag].id == live.engine.images[f"{repo}:v1"].id
               for tag, repo in zip(tags, (BACKEND_REPO, FRONTEND_REPO)))
    calls = live.engine.calls
    first_pull = calls.index(("pull", f"{BACKEND_REPO}:v2"))
    assert calls.index(("archive_volume", VOLUME)) < first_pull
    assert calls.index(("exec_to", POSTGRES)) < first_pull
    assert all(calls.index(("tag", tag)) < first_pull for tag in tags)


def test_backup_before_a_first_deploy_has_nothing_to_back_up(world):
    entry = world.deploy("v1", skip_backup=False)
    assert entry["backup"] is None and world.step("backup")["detail"] == "nothing live yet"
    assert not world.engine.called("exec_to", "tag", "archive_volume")


# -- stopped before anything changed: aborted ----------------------------------------------------------


def test_failed_preflight_aborts_before_anything_is_pulled(live):
    before = live.containers()
    conf = live.settings.conf_dir / "shop.test.conf"
    conf.write_text(conf.read_text() + "# edited by hand\n")
    summary = live.failed_deploy()
    assert summary == (f"deploy of {PROJECT}/{ENV} 'v2' aborted: pre-flight failed (nginx config); fix it, or "
                       f"deploy anyway with --force; serving {SERVING_V1}")
    entry = live.last()
    assert entry["status"] == "aborted" and entry["rollback"] == []
    assert [(s["name"], s["status"]) for s in entry["steps"]] == [("pre-flight", "failed")]
    assert not live.engine.called("pull", "run")
    assert live.journal() is None
    assert_v1_untouched(live, before)


def test_forced_past_a_stale_nginx_config_regenerates_it_before_the_switch(live):
    conf = live.settings.conf_dir / "shop.test.conf"
    generated = conf.read_text()
    conf.write_text(generated + "# edited by hand\n")
    entry = live.deploy("v2", force=True)
    assert entry["status"] == "success" and entry["forced"] is True
    assert live.step("pre-flight")["detail"] == "FORCED past: nginx config"
    assert conf.read_text() == generated
    # In platform-nginx: the new files tested, then a reload, before traffic is checked through it.
    commands = [args[1] for _, args in live.engine.logged("exec_run") if args[0] == NGINX]
    reload_at = commands.index(["nginx", "-s", "reload"])
    assert commands[reload_at - 1] == ["nginx", "-t"]
    assert reload_at < next(i for i, argv in enumerate(commands) if argv[-1] == NGINX_CHECK)


def test_failed_backup_aborts_and_leaves_no_backup(live):
    before = live.containers()
    live.engine.fail_on("exec_to", Refused("pg_dump: connection to server failed"))
    summary = live.failed_deploy(skip_backup=False)
    assert re.fullmatch(rf"deploy of shop/production 'v2' aborted: backup failed: could not make backup_\S+ "
                        rf"\(removed again\): pg_dump: connection to server failed; serving {re.escape(SERVING_V1)}",
                        summary), summary
    assert live.last()["status"] == "aborted" and live.last()["rollback"] == []
    assert not live.engine.called("pull", "run")
    assert list((live.settings.backups_dir / PROJECT / ENV).iterdir()) == []
    assert not [ref for ref in live.engine.images if ref.startswith(f"{BACKEND_REPO}:backup_")]
    assert_v1_untouched(live, before)


def test_a_deploy_holding_the_lock_refuses_another_without_touching_anything(live):
    with DeployLock(live.settings, PROJECT, ENV), \
            pytest.raises(PlatformError, match=r"^shop/production is locked by pid \d+ "):
        live.deploy("v2")
    assert live.engine.calls == []
    assert live.statuses() == ["success"]


# -- failures before the switch: candidates removed, migrations reversed ------------------------------


def test_pull_refused_is_rolled_back_with_nothing_started(live):
    before = live.containers()
    live.engine.fail_on("pull", Refused("cannot pull registry.test/app-frontend:v2: manifest unknown"),
                        when=lambda reference: reference.startswith(FRONTEND_REPO))
    summary = live.failed_deploy()
    assert summary == rolled_back_summary("cannot pull registry.test/app-frontend:v2: manifest unknown")
    entry = live.last()
    assert entry["status"] == "rolled_back" and entry["migrations"] == []
    assert entry["rollback"] == [removed_line(live)]
    assert live.step("pull")["status"] == "failed" and live.step("pull")["detail"] == entry["failure"]
    assert not live.engine.called("run", "stop", "start")
    assert live.journal() is None and live.engine.revision == "0001"
    assert_v1_untouched(live, before)


def test_candidate_that_cannot_start_is_rolled_back(live):
    before = live.containers()
    live.engine.fail_on("run", Refused("cannot start: port is already allocated"),
                        when=lambda name: name.startswith(f"{FRONTEND}-next-"))
    summary = live.failed_deploy()
    assert summary == rolled_back_summary("cannot start: port is already allocated")
    backend, frontend = candidates(live)
    assert live.last()["status"] == "rolled_back" and live.last()["rollback"] == [removed_line(live)]
    assert subsequence(actions(live.engine), [("run", backend), ("run", frontend), ("remove", backend),
                                              ("remove", frontend)])
    assert not [a for a in actions(live.engine) if a[0] == "alembic"] and live.engine.revision == "0001"
    assert live.journal() is None
    assert_v1_untouched(live, before)


def test_failed_migration_is_reversed_to_the_revision_before(live):
    """The migration applied part of its work (revision 0002) before it failed: downgraded to 0001."""
    before = live.containers()

    def half_applied(name, argv, *rest):
        if argv[:2] == ["alembic", "upgrade"]:
            live.engine.revision = "0002"

    live.engine.before("exec_run", half_applied)
    live.engine.failing_commands["alembic upgrade"] = "sqlalchemy.exc.ProgrammingError: relation exists"
    summary = live.failed_deploy()
    backend, _ = candidates(live)
    reason = f"{backend}: `alembic upgrade head` failed (exit 1): sqlalchemy.exc.ProgrammingError: relation exists"
    assert summary == rolled_back_summary(reason)
    entry = live.last()
    assert entry["status"] == "rolled_back" and live.step("migrations")["status"] == "failed"
    assert entry["migrations"] == [{"container": backend, "command": "alembic upgrade head", "alembic": True,
                                    "before": "0001", "after": None}]
    assert entry["rollback"] == ["database downgraded to 0001", removed_line(live)]
    assert live.engine.revision == "0001"
    assert subsequence(actions(live.engine), [("alembic", "upgrade head"), ("alembic", "downgrade 0001"),
                                              ("remove", backend)])
    assert live.journal() is None
    assert_v1_untouched(live, before)


@pytest.mark.parametrize("role, broken, reason", [
    ("backend", {"health": "unhealthy"}, "{candidate} is unhealthy (Docker healthcheck)"),
    ("frontend", {"status": "exited"}, "{candidate} exited (exit code 0): the last log line"),
])
def test_candidate_failing_its_health_check_is_rolled_back_after_the_migration(live, role, broken, reason):
    before = live.containers()
    image = live.engine.registry[f"{BACKEND_REPO if role == 'backend' else FRONTEND_REPO}:v2"]
    for attribute, value in broken.items():
        setattr(image, attribute, value)
    summary = live.failed_deploy()
    candidate = dict(zip(("backend", "frontend"), candidates(live)))[role]
    assert summary == rolled_back_summary(reason.format(candidate=candidate))
    entry = live.last()
    assert entry["status"] == "rolled_back" and live.step("health")["status"] == "failed"
    assert [s["name"] for s in entry["steps"]] == STEPS[:6]
    assert entry["rollback"] == ["database downgraded to 0001", removed_line(live)]
    assert live.engine.revision == "0001" and live.journal() is None
    assert not [a for a in actions(live.engine) if a[0] in ("stop", "rename") or (a[0] == "connect" and a[2])]
    assert_v1_untouched(live, before)


def test_failed_smoke_test_is_rolled_back_before_any_traffic_moves(live):
    before = live.containers()
    live.engine.http[f"{BACKEND}-next-"] = 500
    summary = live.failed_deploy()
    backend, _ = candidates(live)
    assert summary == rolled_back_summary(f"{backend} GET /health: 500 'body'")
    assert live.last()["status"] == "rolled_back" and live.step("smoke tests")["status"] == "failed"
    assert live.last()["rollback"] == ["database downgraded to 0001", removed_line(live)]
    assert not [a for a in actions(live.engine) if a[0] in ("stop", "hold", "rename") or a == ("request", NGINX_CHECK)]
    assert live.engine.revision == "0001" and live.journal() is None
    assert_v1_untouched(live, before)


@pytest.mark.parametrize("signal", [pipeline.Interrupted, KeyboardInterrupt], ids=["SIGTERM", "Ctrl-C"])
def test_interrupt_rolls_back_like_a_failure(live, signal):
    before = live.containers()

    def interrupt(name, argv, *rest):
        if argv[:2] == ["alembic", "upgrade"]:
            raise signal()

    live.engine.before("exec_run", interrupt)
    summary = live.failed_deploy()
    assert summary == rolled_back_summary("interrupted")
    entry = live.last()
    assert entry["status"] == "rolled_back" and entry["failure"] == "interrupted"
    assert live.step("migrations")["status"] == "interrupted"
    assert entry["rollback"] == ["database downgraded to 0001", removed_line(live)]
    assert live.journal() is None
    assert_v1_untouched(live, before)


def test_a_bug_in_a_step_is_rolled_back_and_keeps_its_traceback(live):
    before = live.containers()
    live.engine.fail_on("run", ValueError("unexpected answer"))
    with pytest.raises(ValueError, match="unexpected answer"):
        live.deployment("v2").run()
    entry = live.last()
    assert entry["status"] == "rolled_back" and entry["failure"] == "internal error: ValueError: unexpected answer"
    assert entry["rollback"] == [removed_line(live)]
    assert_v1_untouched(live, before)


# -- the check through nginx after the switch -----------------------------------------------------------


def test_failed_check_through_nginx_hands_traffic_back_to_the_old_containers(live):
    before = live.containers()
    live.engine.http["127.0.0.1"] = 502
    summary = live.failed_deploy()
    assert summary == rolled_back_summary("request through platform-nginx for shop.test got 502 after the switch; "
                                          "switched back")
    entry = live.last()
    assert entry["status"] == "rolled_back" and live.step("switch traffic")["status"] == "failed"
    assert entry["rollback"] == [f"traffic back on {BACKEND}, {FRONTEND}", "database downgraded to 0001",
                                 removed_line(live)]
    done = actions(live.engine)
    for old, new in zip(LIVE, candidates(live)):
        assert subsequence(done, [("connect", new, [old]), ("request", NGINX_CHECK), ("reopen", old),
                                  ("lift", "hold"), ("drain", new), ("alembic", "downgrade 0001"),
                                  ("remove", new)]), (old, done)
    assert tuple(a[1] for a in done if a[0] == "drain") == candidates(live)   # the old ones were redirected
    # Open again before anything new closes; the old ones were never stopped, the new ones were.
    assert done.index(("lift", "hold")) < min(done.index(("drain", new)) for new in candidates(live))
    assert not [a for a in done if a[0] == "rename" or a in [("remove", name) for name in LIVE]]
    assert len([a for a in done if a[0] == "stop"]) == 2 and not [a for a in done if a in
                                                                   [("stop", name) for name in LIVE]]
    assert live.engine.revision == "0001" and live.journal() is None
    assert_v1_untouched(live, before)


# -- failures after traffic moved: the switch is finished, not undone ----------------------------------


def test_failure_after_the_switch_was_confirmed_finishes_it(live):
    live.engine.fail_on("rename", Conflict("cannot rename: name in use"),
                        when=lambda name, new_name: name.startswith(f"{FRONTEND}-next-"))
    summary = live.failed_deploy()
    assert summary == (f"deploy of {PROJECT}/{ENV} 'v2' interrupted completed: cannot rename: name in use; "
                       f"serving {BACKEND} ({BACKEND_REPO}:v2), {FRONTEND} ({FRONTEND_REPO}:v2)")
    manifest = live.manifest()
    entry = manifest["last_attempt"]
    assert entry["status"] == "interrupted_completed" and manifest["current_deployment"] == entry
    assert entry["rollback"] == [f"finished the switch: {BACKEND}, {FRONTEND} serve the new version"]
    assert live.serving() == V2 and live.leftovers() == []
    assert live.engine.revision == "0002" and live.journal() is None
    assert not [a for a in actions(live.engine) if a[0] == "alembic" and a[1].startswith("downgrade")]


# -- the engine gone ----------------------------------------------------------------------------------


def test_engine_gone_for_one_call_is_rolled_back_once_it_answers_again(live):
    before = live.containers()
    live.engine.fail_on("run", LOST, when=lambda name: name.startswith(f"{FRONTEND}-next-"))
    summary = live.failed_deploy()
    assert summary == rolled_back_summary("cannot reach the Docker engine: connection refused")
    assert live.last()["status"] == "rolled_back" and live.last()["rollback"] == [removed_line(live)]
    assert live.journal() is None
    assert_v1_untouched(live, before)


def test_engine_lost_mid_deploy_keeps_the_journal_for_recover(live):
    """The engine goes away as the migration starts and stays away through the rollback."""
    before = live.containers()

    def engine_goes(name, argv, *rest):
        if argv[:2] == ["alembic", "upgrade"]:
            live.engine.unavailable = LOST

    live.engine.before("exec_run", engine_goes)
    summary = live.failed_deploy()
    reason = "cannot reach the Docker engine: connection refused"
    assert summary == (f"deploy of {PROJECT}/{ENV} 'v2' rollback failed: {reason}; serving unknown ({reason}); "
                       f"once that is fixed run `invoke deploy.recover --project {PROJECT} --env {ENV}` "
                       "(the next deploy also does it)")
    assert "\n" not in summary
    entry = live.last()
    assert entry["status"] == "rollback_failed" and entry["rollback"] == [f"FAILED: stopped: {reason}"]
    journal = live.journal()
    assert journal["phase"] == "migrate" and journal["deploy_id"] == entry["deploy_id"]
    assert [(m["before"], m["after"]) for m in journal["migrations"]] == [("0001", None)]
    live.engine.unavailable = None
    live_now = {name: state for name, state in live.containers().items() if name in LIVE}
    assert live_now == {name: before[name] for name in LIVE}
    assert live.manifest()["current_deployment"]["version"] == "v1"


def test_cleanup_that_fails_after_the_switch_is_reported_not_a_failed_deploy(live):
    live.engine.fail_on("prune_dangling", Refused("cannot prune dangling images: a prune is already running"))
    entry = live.deploy("v2")
    assert entry["status"] == "success" and live.manifest()["current_deployment"]["version"] == "v2"
    assert live.step("cleanup")["detail"].endswith(
        "dangling images: NOT pruned: cannot prune dangling images: a prune is already running")


def test_a_first_deploy_waits_for_no_dns_turnover(world, monkeypatch):
    waits = []
    monkeypatch.setattr(switch, "settled_after", lambda changed_at: time.time() + 100)
    monkeypatch.setattr(switch.time, "sleep", waits.append)
    world.deploy("v1")
    assert all(wait < 1 for wait in waits) and not world.engine.called("run_beside", "start_beside", "stop")


def test_an_old_container_that_cannot_be_drained_is_stopped_the_slow_way(live):
    """No iptables in the helper image (a platform-nginx from elsewhere): graceful stop with the full timeout."""
    live.engine.fail_on("run_beside", Refused("cannot run a helper beside it: executable file not found"), times=2)
    old_ids = [live.engine.containers[name].id for name in LIVE]
    entry = live.deploy("v2")
    assert entry["status"] == "success"
    assert stop_timeouts(live) == {id_: switch.DRAIN_SECONDS for id_ in old_ids}


def test_a_drained_old_container_is_stopped_at_once(live):
    old_ids = [live.engine.containers[name].id for name in LIVE]
    live.deploy("v2")
    assert stop_timeouts(live) == {id_: switch.STOP_AFTER_DRAIN_SECONDS for id_ in old_ids}


def test_a_drain_timeout_from_projects_yml_is_the_drain_helpers_and_the_stops(live):
    live.settings.projects_file.write_text(PROJECTS_YML.replace("port: 8000", "port: 8000\n        drain_timeout: 45"))
    live.registry = load_registry(live.settings.projects_file)
    backend_id, frontend_id = (live.engine.containers[name].id for name in LIVE)
    live.engine.fail_on("run_beside", Refused("cannot run a helper beside it: executable file not found"),
                        when=lambda name, argv: name == backend_id)
    live.deploy("v2")
    drains = {args[0]: args[1][-1] for _, args in live.engine.logged("run_beside") if args[1][3] == "drain"}
    assert drains == {backend_id: "45", frontend_id: str(switch.DRAIN_SECONDS)}
    assert stop_timeouts(live)[backend_id] == 45


def stop_timeouts(world) -> dict:
    """{container id: stop timeout} of the stops other than a hold's or a guard's."""
    return {args[0]: args[1] for _, args in world.engine.logged("stop") if not args[0].startswith(("hold-", "guard-"))}


def test_a_first_deploy_asks_nginx_again_while_it_still_holds_the_old_dns_answer(world, monkeypatch):
    monkeypatch.setattr(switch, "settled_after", lambda changed_at: time.time() + 5)
    answers = iter([502, 502, 200])
    world.engine.before("exec_run", lambda name, argv, *rest: world.engine.http.update(
        {"127.0.0.1": next(answers)}) if argv[-1] == NGINX_CHECK else None)
    assert world.deploy("v1")["status"] == "success"
    assert [a for a in actions(world.engine) if a == ("request", NGINX_CHECK)] == [("request", NGINX_CHECK)] * 3


def test_a_database_at_the_new_images_head_is_not_migrated_again(live):
    assert live.deploy("v2")["status"] == "success"   # 0001 -> 0002
    live.forget_calls()
    entry = live.deploy("v2")
    assert entry["status"] == "success" and live.engine.revision == "0002"
    assert not [a for a in actions(live.engine) if a[0] == "alembic"]   # `alembic current` only
    assert live.step("migrations")["detail"] == "backend: 0002 -> 0002"


HEALTHCHECK = ("/bin/sh", "-c", "curl -fsS http://127.0.0.1:8000/health")


def not_probed_yet(world):
    """The v2 images: Docker has not run their first health probe yet when the health step looks."""
    for repo in (BACKEND_REPO, FRONTEND_REPO):
        image = world.engine.registry[f"{repo}:v2"]
        image.health, image.health_command = "starting", HEALTHCHECK


def test_a_candidate_whose_first_probe_is_not_due_passes_by_running_its_healthcheck_at_once(live):
    """v2 migrates the database: what its HEALTHCHECK said during the migration does not count, it runs again."""
    not_probed_yet(live)
    assert live.deploy("v2")["status"] == "success"
    assert live.step("health")["detail"] == ("backend: healthy (its HEALTHCHECK, run at once); "
                                             "frontend: healthy (its HEALTHCHECK, run at once)")
    own_runs = [args for _, args in live.engine.logged("exec_run") if tuple(args[1]) == HEALTHCHECK]
    assert sorted(name for name, _ in own_runs) == sorted(candidates(live) * 2)


def test_with_no_migration_to_run_the_healthchecks_run_during_the_migrations_step_count(live):
    """Most deploys change no schema: the candidates' HEALTHCHECKs run beside `alembic current`, once."""
    not_probed_yet(live)
    live.engine.registry[f"{BACKEND_REPO}:v2"].alembic_head = "0001"   # the live version's head
    assert live.deploy("v2")["status"] == "success"
    assert live.step("migrations")["detail"] == "backend: 0001 -> 0001"
    assert live.step("health")["detail"] == ("backend: healthy (its HEALTHCHECK, run during the migrations); "
                                             "frontend: healthy (its HEALTHCHECK, run during the migrations)")
    own_runs = [args for _, args in live.engine.logged("exec_run") if tuple(args[1]) == HEALTHCHECK]
    assert sorted(name for name, _ in own_runs) == sorted(candidates(live))


def test_a_healthcheck_that_fails_when_run_at_once_is_left_to_dockers_probes(live):
    not_probed_yet(live)
    live.engine.failing_commands["curl -fsS http://127.0.0.1:8000/health"] = "curl: (7) refused"

    def docker_probes(name, argv, *rest):   # Docker's own probe passes later
        if tuple(argv) == HEALTHCHECK:
            live.engine.containers[name].health = "healthy"

    live.engine.before("exec_run", docker_probes)
    assert live.deploy("v2")["status"] == "success"
    assert live.step("health")["detail"] == "backend: healthy; frontend: healthy"
    own_runs = [args for _, args in live.engine.logged("exec_run") if tuple(args[1]) == HEALTHCHECK]
    assert len(own_runs) == 2   # once per candidate, never again


class Watching(ConsoleReport):
    """A report that also keeps what the running steps said they wait for and the bytes they moved."""

    def __init__(self, out):
        super().__init__(out)
        self.started_steps, self.awaited, self.moved = [], [], []

    def started(self, number, name):
        self.started_steps.append(name)

    def awaiting(self, text):
        self.awaited.append(text)

    def transferred(self, done, total=None):
        self.moved.append((done, total))


def test_the_running_steps_say_what_they_wait_for_and_the_backup_the_bytes_it_writes(live):
    """What a terminal shows live (liveprogress.py): each step as it starts, the migration command, who the
    health step waits for and how long of its timeout, the backup's bytes."""
    not_probed_yet(live)
    live.engine.failing_commands["curl -fsS http://127.0.0.1:8000/health"] = "curl: (7) refused"
    polls = iter(range(4))

    def docker_probes(name):   # Docker's own probe passes after a few looks of the health step
        container = live.engine.containers.get(name)
        if (container is not None and "-next-" in name and container.health == "starting"
                and live.report.started_steps[-1:] == ["health"] and next(polls, 9) >= 3):
            container.health = "healthy"

    live.engine.before("inspect", docker_probes)
    live.report = Watching(live.out)
    assert live.deploy("v2", skip_backup=False)["status"] == "success"
    assert live.report.started_steps == [step.name for step in steps.STEPS[:-1]]
    assert "backend: alembic upgrade head" in live.report.awaited
    assert any(re.fullmatch(r"(backend|frontend): starting, 0 s of \d+(; frontend: starting, 0 s of \d+)?", text)
               for text in live.report.awaited), live.report.awaited
    sizes = [done for done, _ in live.report.moved]
    assert sizes and sizes == sorted(sizes), live.report.moved
