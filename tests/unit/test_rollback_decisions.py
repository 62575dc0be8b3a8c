"""What a rollback keeps and removes (recover.undo), against the FakeEngine.

The real thing runs in tests/integration (test_faults.py, test_killed_deploy.py); these pin
the decisions: candidates are kept only while a migration may still be reversed later.
"""

from dataclasses import replace

import pytest
from fakes import FakeEngine, names

from platform_deploy.deploy import recover
from platform_deploy.fsutil import remove_partials, write_atomic
from platform_deploy.state.records import Migration, Phase, RoleNames

NETWORK = "p-production"
ROLES = (RoleNames("backend", "p-backend-production", "p-backend-next"),
         RoleNames("frontend", "p-frontend-production", "p-frontend-next"))
MIGRATION = Migration(container="p-backend-next", command="alembic upgrade head", alembic=True, before="0001",
                      after="0002")


@pytest.fixture
def engine():
    """Both candidates run; the database is at the migration's target."""
    fake = FakeEngine()
    fake.add_image("app:v2", published=False, alembic_head="0002")
    for role in ROLES:
        fake.add_container(role.new_name, "app:v2", NETWORK)
    fake.revision = "0002"
    fake.calls.clear()
    return fake


def undo(engine, migration=MIGRATION, **options):
    """Roll back a deploy stopped after its migration; (finished, the actions as shown, reversed migrations)."""
    actions, forgotten = [], []
    finished = recover.undo(engine, NETWORK, ROLES, Phase.MIGRATE, [], [migration], actions.append, forgotten.append,
                            **options)
    return finished, [str(action) for action in actions], forgotten


def test_reversed_migration_is_forgotten_and_candidates_removed(engine):
    finished, said, forgotten = undo(engine)
    assert finished and forgotten == [MIGRATION] and engine.revision == "0001"
    assert said == ["database downgraded to 0001", "removed p-backend-next, p-frontend-next"]
    assert engine.called("stop", "remove") == [("remove", "p-backend-next"), ("remove", "p-frontend-next")]


def test_database_unreachable_keeps_the_candidates_stopped_for_a_later_try(engine):
    engine.failing_commands["alembic downgrade"] = "could not connect"
    finished, said, forgotten = undo(engine)
    assert not finished and forgotten == []
    assert said[0] == "FAILED: database NOT restored: `alembic downgrade 0001` failed (exit 1): could not connect"
    assert said[1].startswith("FAILED: kept p-backend-next, p-frontend-next (stopped)")
    assert engine.called("stop", "remove") == [("stop", "p-backend-next"), ("stop", "p-frontend-next")]


def test_giving_up_removes_them_and_points_to_the_backup(engine):
    engine.failing_commands["alembic downgrade"] = "could not connect"
    finished, said, _ = undo(engine, give_up=True)
    assert finished
    assert said[0].endswith(recover.RESTORE_ADVICE)
    assert names(engine.called("remove")) == ["p-backend-next", "p-frontend-next"]


def test_a_migration_that_cannot_be_reversed_at_all_is_not_retried(engine):
    finished, said, _ = undo(engine, replace(MIGRATION, alembic=False, command="flask db upgrade"))
    assert finished and said[0] == ("FAILED: database NOT restored: cannot reverse `flask db upgrade` automatically "
                                    f"(not Alembic); {recover.RESTORE_ADVICE}")
    assert names(engine.called("remove")) == ["p-backend-next", "p-frontend-next"]


def test_candidate_gone_is_not_retried(engine):
    engine.remove("p-backend-next")
    finished, said, _ = undo(engine)
    assert finished and said[0].startswith("FAILED: cannot reverse `alembic upgrade head`: p-backend-next is gone")


def test_a_stopped_candidate_is_started_again_to_run_its_downgrade(engine):
    engine.stop("p-backend-next")
    finished, said, _ = undo(engine)
    assert finished and said[0] == "database downgraded to 0001"
    assert ("start", "p-backend-next") in engine.calls


def test_remove_partials_takes_only_the_temporary_files(tmp_path):
    write_atomic(tmp_path / "manifest.json", "{}")
    (tmp_path / ".tmp-abc.partial").write_text("half")
    (tmp_path / "notes.partial").write_text("not ours")
    assert remove_partials(tmp_path) == [".tmp-abc.partial"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "notes.partial"]
