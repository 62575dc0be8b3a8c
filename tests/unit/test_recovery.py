"""A deploy killed at each journal phase, then `recover` (or the next deploy), on the FakeEngine.

A SIGKILL runs no rollback. The pipeline catches everything, BaseException included,
and rolls back in ``Deployment._fail``, so these tests stand for a kill with a hook
that raises ``Killed`` (a BaseException nothing catches) at one engine call, and the
``no_rollback`` fixture, which makes ``_fail`` re-raise it at once: the deploy stops
dead there and leaves its journal and containers as a killed process would. The real
thing runs in tests/integration/test_killed_deploy.py.
"""

import json

import pytest
from deploy_world import (BACKEND, BACKEND_REPO, ENV, FRONTEND, FRONTEND_REPO, LIVE, NETWORK, PROJECT, Killed,
                          actions, is_alembic, kill_when, killed_deploy, subsequence)

from platform_deploy.backup import create as backup_create
from platform_deploy.deploy import recover
from platform_deploy.engine import EngineUnavailable
from platform_deploy.errors import PlatformError

V1 = {BACKEND: f"{BACKEND_REPO}:v1", FRONTEND: f"{FRONTEND_REPO}:v1"}
V2 = {BACKEND: f"{BACKEND_REPO}:v2", FRONTEND: f"{FRONTEND_REPO}:v2"}
UNDONE = "interrupted_rolled_back"


def candidates(journal) -> list[str]:
    return [role["new_name"] for role in journal["roles"]]


def removed_line(journal) -> str:
    return f"removed {', '.join(candidates(journal))}"


def is_candidate_of(live_name: str):
    return lambda name, *rest: name.startswith(f"{live_name}-next-")


def migration_goes_on(world):
    """The killed deploy's `alembic upgrade` goes on inside the container: the database reaches 0002."""
    def migrate(name, argv, *rest):
        world.engine.revision = "0002"
    return migrate


# name: (where the kill lands, what the engine did anyway, journal phase, rollback lines, version after recover)
KILLS = {
    "while pulling": (("pull", lambda reference: reference.startswith(FRONTEND_REPO)), None,
                      "pull", ["{removed}"], "v1"),
    "while starting": (("run", is_candidate_of(FRONTEND)), None,
                       "start", ["{removed}"], "v1"),
    "mid-migration": (("exec_run", is_alembic("upgrade")), migration_goes_on,
                      "migrate", ["database downgraded to 0001", "{removed}"], "v1"),
    "while switching": (("start_beside", lambda *args: True), None,
                        "switching", [f"traffic back on {BACKEND}, {FRONTEND}", "database downgraded to 0001",
                                      "{removed}"], "v1"),
    "after the switch": (("rename", is_candidate_of(BACKEND)), None,
                         "switched", [f"finished the switch: {BACKEND}, {FRONTEND} serve the new version"], "v2"),
}


def kill(world, point: str) -> dict:
    """Deploy v2, killed at ``point``; return the journal it left."""
    (method, when), then, _, _, _ = KILLS[point]
    kill_when(world.engine, method, when, then(world) if then else lambda *args: None)
    return killed_deploy(world)


@pytest.mark.parametrize("point", list(KILLS))
def test_killed_deploy_leaves_its_journal_and_the_manifest_on_v1(live, no_rollback, point):
    journal = kill(live, point)
    assert journal["phase"] == KILLS[point][2] and journal["tag"] == "v2"
    assert journal["network"] == NETWORK and [r["live_name"] for r in journal["roles"]] == list(LIVE)
    manifest = live.manifest()
    assert manifest["current_deployment"]["version"] == "v1" and live.statuses() == ["success"]


@pytest.mark.parametrize("point", list(KILLS))
def test_recover_after_a_kill_settles_on_one_whole_version(live, no_rollback, point):
    _, _, phase, lines, version = KILLS[point]
    journal = kill(live, point)
    live.forget_calls()
    assert live.recover() is True
    entry = live.last()
    status = "interrupted_completed" if version == "v2" else UNDONE
    assert entry["status"] == status and entry["deploy_id"] == journal["deploy_id"] and entry["version"] == "v2"
    assert entry["failure"] == f"deploy process stopped during {phase}"
    assert entry["rollback"] == [line.format(removed=removed_line(journal)) for line in lines]
    assert live.manifest()["current_deployment"]["version"] == version
    assert live.serving() == (V2 if version == "v2" else V1) and live.leftovers() == []
    assert live.engine.revision == ("0002" if version == "v2" else "0001")
    assert live.journal() is None
    assert f"found interrupted deploy {journal['deploy_id']} (stopped during {phase}); cleaning up" in live.out.getvalue()


@pytest.mark.parametrize("point", ["while pulling", "while starting", "mid-migration", "while switching"])
def test_recover_before_traffic_moved_keeps_the_same_live_containers(live, no_rollback, point):
    before = {name: live.engine.containers[name].id for name in LIVE}
    kill(live, point)
    live.recover()
    assert {name: live.engine.containers[name].id for name in LIVE} == before
    assert not [a for a in actions(live.engine) if a in [("remove", name) for name in LIVE] or a[0] == "rename"]


def test_recover_mid_switch_opens_the_old_containers_before_closing_the_candidates(live, no_rollback):
    """Killed with nginx redirected from both old containers to the candidates (a hold beside nginx), the old
    ones still running."""
    before = {name: live.engine.containers[name].id for name in LIVE}
    kill_when(live.engine, "exec_run", lambda name, argv, *rest: argv[0] == "curl" and argv[-1] == "http://127.0.0.1/")
    journal = killed_deploy(live)
    assert journal["phase"] == "switching" and len(live.holds()) == 1
    new_ids = {name: live.engine.containers[name].id for name in candidates(journal)}
    live.forget_calls()
    live.recover()
    done = actions(live.engine)
    # The candidates close in parallel (switch.close): check the order role by role.
    for old, new in zip(LIVE, candidates(journal)):
        assert subsequence(done, [("lift", "hold"), ("reopen", old), ("drain", new), ("stop", new_ids[new]),
                                  ("alembic", "downgrade 0001"), ("remove", new)]), (old, done)
    last_reopen = max(done.index(("reopen", old)) for old in LIVE)
    assert all(i > last_reopen for i, a in enumerate(done) if a[0] == "drain" or a[0] == "hold")
    # the redirect, and the guard (its rules out already; its container goes once the deploy has reported)
    assert "lifted 2 hold(s) of an interrupted switch" in live.out.getvalue()
    assert live.holds() == [] and live.engine.refusing.isdisjoint(LIVE)
    assert {name: live.engine.containers[name].id for name in LIVE} == before
    assert live.serving() == V1 and live.leftovers() == [] and live.engine.revision == "0001"


def test_recover_after_the_switch_finishes_only_the_renames_not_yet_done(live, no_rollback):
    old_ids = {live.engine.containers[name].id for name in LIVE}
    kill_when(live.engine, "rename", is_candidate_of(FRONTEND))
    journal = killed_deploy(live)
    _, frontend = candidates(journal)
    assert BACKEND in live.engine.containers and frontend in live.engine.containers   # backend renamed already
    live.forget_calls()
    live.recover()
    # Both old containers had stepped aside (renamed) already: they are retired first.
    done = [a for a in actions(live.engine) if a[0] in ("remove", "rename", "stop")]
    assert done[-1] == ("rename", frontend, FRONTEND)
    assert {a for a in done[:-1] if a[1] in old_ids} == {(verb, id_) for verb in ("stop", "remove") for id_ in old_ids}
    assert f"{FRONTEND}-retired-{journal['deploy_id']}, replaced by an interrupted deploy" in live.out.getvalue()
    assert live.serving() == V2 and live.leftovers() == []
    assert live.manifest()["current_deployment"]["status"] == "interrupted_completed"


def test_next_deploy_cleans_up_an_interrupted_one_first(live, no_rollback):
    journal = kill(live, "while switching")
    entry = live.deploy("v3")
    assert entry["status"] == "success" and live.statuses() == ["success", UNDONE, "success"]
    assert live.manifest()["deployment_history"][1]["deploy_id"] == journal["deploy_id"]
    assert "found interrupted deploy" in live.out.getvalue()
    assert live.serving() == {BACKEND: f"{BACKEND_REPO}:v3", FRONTEND: f"{FRONTEND_REPO}:v3"}
    assert live.engine.revision == "0003" and live.leftovers() == [] and live.journal() is None


def test_recover_with_no_journal_does_nothing(live):
    manifest = live.manifest()
    assert live.recover() is False
    assert live.manifest() == manifest
    assert actions(live.engine) == []


@pytest.mark.parametrize("damaged", ["{not json", "[" * 100000, '{"deploy_id": "x", "migrations": [{}]}'])
def test_unreadable_journal_is_refused_and_kept(live, damaged):
    path = live.state_dir / "journal.json"
    path.write_text(damaged)
    with pytest.raises(PlatformError, match=r"^shop/production: the deploy journal is unreadable; inspect "):
        live.recover()
    assert path.read_text() == damaged and live.statuses() == ["success"]


def test_engine_back_after_it_was_lost_mid_deploy_recover_finishes_the_rollback(live):
    """The pipeline could not roll back (test_pipeline: engine lost); with the engine back, recover does."""
    before = live.containers()
    lost = EngineUnavailable("cannot reach the Docker engine: connection refused")
    live.engine.before("exec_run", lambda name, argv, *rest: setattr(live.engine, "unavailable", lost)
                       if argv[:2] == ["alembic", "upgrade"] else None)
    live.failed_deploy()
    journal = live.journal()
    live.engine.unavailable = None
    assert live.recover() is True
    assert live.statuses() == [UNDONE, "rollback_failed", "success"]
    assert live.last()["rollback"] == ["database downgraded to 0001", removed_line(journal)]
    assert live.containers() == before and live.journal() is None


# -- a recovery that cannot finish, or is itself interrupted -------------------------------------------


def killed_mid_migration_with_database_down(world) -> dict:
    journal = kill(world, "mid-migration")
    world.engine.failing_commands["alembic downgrade"] = "could not connect to server: Connection refused"
    return journal


def test_recover_that_cannot_reverse_the_migration_yet_keeps_everything_for_a_retry(live, no_rollback):
    journal = killed_mid_migration_with_database_down(live)
    with pytest.raises(PlatformError) as refused:
        live.recover()
    message = str(refused.value)
    assert message.startswith(f"shop/production: interrupted deploy {journal['deploy_id']} is not undone yet "
                               "(FAILED: database NOT restored: `alembic downgrade 0001` failed (exit 1): could not "
                               "connect to server: Connection refused; FAILED: kept ")
    assert "--abandon" in message and "\n" not in message
    assert live.journal() == journal   # the migration is still to be reversed
    assert {name: live.containers()[name][1] for name in candidates(journal)} == dict.fromkeys(
        candidates(journal), "exited")   # kept, stopped: their scripts do the downgrade
    assert live.engine.revision == "0002" and live.statuses() == ["success"]
    assert live.serving() == V1


def test_recover_retried_once_the_database_is_back_finishes(live, no_rollback):
    journal = killed_mid_migration_with_database_down(live)
    with pytest.raises(PlatformError):
        live.recover()
    del live.engine.failing_commands["alembic downgrade"]
    assert live.recover() is True
    assert live.last()["status"] == UNDONE
    assert live.last()["rollback"] == ["database downgraded to 0001", removed_line(journal)]
    assert live.engine.revision == "0001" and live.leftovers() == [] and live.journal() is None


def test_giving_up_removes_the_candidates_and_points_to_the_backup(live, no_rollback):
    journal = killed_mid_migration_with_database_down(live)
    assert live.recover(give_up=True) is True
    entry = live.last()
    assert entry["status"] == "rollback_failed"
    assert entry["rollback"][0] == ("FAILED: database NOT restored: `alembic downgrade 0001` failed (exit 1): could "
                                    f"not connect to server: Connection refused; {recover.RESTORE_ADVICE}")
    assert entry["rollback"][1:] == [removed_line(journal)]
    assert live.engine.revision == "0002"   # for a human to restore from the backup
    assert live.serving() == V1 and live.leftovers() == [] and live.journal() is None


SIGNING = "Xy7!abcdefgh"


def killed_with_a_downgrade_quoting_an_env_value(world) -> dict:
    """Killed mid-migration; the downgrade then fails quoting a value of the project's env file."""
    env_file = world.settings.root / "config" / PROJECT / f".env.{ENV}"
    env_file.write_text(env_file.read_text() + f"SIGNING={SIGNING}\n")
    journal = kill(world, "mid-migration")
    world.engine.failing_commands["alembic downgrade"] = f"cannot verify with SIGNING={SIGNING}"
    return journal


def test_recover_hides_env_values_in_what_it_prints_raises_and_records(live, no_rollback):
    killed_with_a_downgrade_quoting_an_env_value(live)
    with pytest.raises(PlatformError) as refused:
        live.recover()
    assert SIGNING not in str(refused.value) and "SIGNING=***" in str(refused.value)
    assert live.recover(give_up=True) is True
    recorded = json.dumps(live.manifest())
    assert SIGNING not in live.out.getvalue() and SIGNING not in recorded
    assert live.last()["rollback"][0].startswith("FAILED: database NOT restored: `alembic downgrade 0001` failed "
                                                 "(exit 1): cannot verify with SIGNING=***;")


def test_a_deploy_recovering_first_hides_env_values_too(live, no_rollback):
    killed_with_a_downgrade_quoting_an_env_value(live)
    with pytest.raises(PlatformError) as refused:
        live.deployment("v3").run()
    assert "is not undone yet" in str(refused.value)
    assert SIGNING not in str(refused.value) and SIGNING not in live.out.getvalue()
    assert "SIGNING=***" in live.out.getvalue()


def test_recovery_killed_after_the_downgrade_does_not_downgrade_again(live, no_rollback):
    journal = kill(live, "mid-migration")
    kill_when(live.engine, "remove", is_candidate_of(BACKEND))
    with pytest.raises(Killed):
        live.recover()
    assert live.engine.revision == "0001"
    assert live.journal()["migrations"] == [] and live.journal()["phase"] == "migrate"
    live.engine.revision = "0001-then-changed-by-hand"   # a second downgrade would show here
    live.forget_calls()
    assert live.recover() is True
    assert not [a for a in actions(live.engine) if a[0] == "alembic"]
    assert live.engine.revision == "0001-then-changed-by-hand"
    assert live.last()["status"] == UNDONE and live.last()["rollback"] == [removed_line(journal)]
    assert live.leftovers() == [] and live.journal() is None


# -- killed before the journal exists -----------------------------------------------------------------


def test_killed_mid_backup_recover_removes_the_incomplete_backup_and_its_tags(live, no_rollback, monkeypatch):
    """A kill between the image tags of a backup: backup.create's cleanup never runs (no_op'd here)."""
    monkeypatch.setattr(backup_create, "discard", lambda *args: None)
    kill_when(live.engine, "tag", lambda reference: reference.startswith(FRONTEND_REPO))
    with pytest.raises(Killed):
        live.deployment("v2", skip_backup=False).run()
    assert live.journal() is None
    backups = live.settings.backups_dir / PROJECT / ENV
    (orphan,) = [p.name for p in backups.iterdir()]
    pending = json.loads((backups / orphan / ".pending-tags.json").read_text())
    assert [reference for reference, _ in pending] == [f"{BACKEND_REPO}:{orphan}-{ENV}", f"{FRONTEND_REPO}:{orphan}-{ENV}"]
    assert f"{BACKEND_REPO}:{orphan}-{ENV}" in live.engine.images
    assert live.recover() is False   # no journal: nothing of the deploy to undo
    assert list(backups.iterdir()) == []
    assert f"{BACKEND_REPO}:{orphan}-{ENV}" not in live.engine.images
    assert f"removed incomplete backup(s) {orphan}" in live.out.getvalue()
    assert live.statuses() == ["success"] and live.serving() == V1


@pytest.mark.parametrize("point", ["drain", "stop", "remove", "lift"])
def test_a_deploy_killed_while_retiring_the_old_containers_leaves_them_to_the_next_run(live, no_rollback, point):
    """Killed after it reported (the journal is gone): while the old ones drain, before the stops, between the
    stops and the removals, or as the hold is lifted. The next run drains, stops and removes what is left and
    lifts the hold."""
    old_ids = {live.engine.containers[name].id for name in LIVE}
    if point == "drain":
        kill_when(live.engine, "run_beside", lambda name, argv: name in old_ids and argv[3] == "drain")
    elif point == "lift":
        kill_when(live.engine, "stop", lambda name, *rest: name.startswith("hold-"))
    else:
        kill_when(live.engine, point, lambda name, *rest: name in old_ids)
    with pytest.raises(Killed):
        live.deployment("v2").run()
    assert live.journal() is None and live.manifest()["current_deployment"]["version"] == "v2"
    assert len(live.holds()) <= 1   # a real SIGKILL would skip retire's `finally`, which lifts it; Killed runs it
    live.forget_calls()
    assert live.recover() is False   # no journal: nothing of the deploy to undo
    assert live.holds() == [] and not old_ids & {c.id for c in live.engine.containers.values()}
    assert live.serving() == V2 and live.leftovers() == []
