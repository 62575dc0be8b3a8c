"""What a rollback keeps and removes (recover.undo), with Docker and Alembic replaced by fakes.

The real thing runs in tests/integration (test_faults.py, test_killed_deploy.py); these pin
the decisions: candidates are kept only while a migration may still be reversed later.
"""

import pytest
import requests

from platform_deploy.deploy import migrate, recover
from platform_deploy.errors import PlatformError
from platform_deploy.fsutil import remove_partials, write_atomic
from platform_deploy.runtime import containers, docker
from platform_deploy.runtime.containers import ContainerState

PLAN = recover.JournalPlan("p-production", (recover.JournalRole("backend", "p-backend-production", "p-backend-next"),
                                            recover.JournalRole("frontend", "p-frontend-production", "p-frontend-next")))
MIGRATION = {"container": "p-backend-next", "command": "alembic upgrade head", "alembic": True,
             "before": "0001", "after": "0002"}


@pytest.fixture
def engine(monkeypatch):
    """Fake containers: all candidates exist and run; records stops and removals."""
    done = []
    running = ContainerState(name="p-backend-next", id="x", status="running", health=None, exit_code=0,
                             image_id="i", image_ref="r", labels={})
    monkeypatch.setattr(containers, "inspect", lambda name: running)
    monkeypatch.setattr(containers, "stop", lambda name: done.append(("stop", name)))
    monkeypatch.setattr(containers, "remove", lambda name: done.append(("remove", name)))
    return done


def downgrade_raises(monkeypatch, error):
    def reverse(migration):
        raise error
    monkeypatch.setattr(migrate, "reverse", reverse)


def undo(**options):
    said, forgotten = [], []
    finished = recover.undo(PLAN, "migrate", [], [MIGRATION], said.append, forgotten.append, **options)
    return finished, said, forgotten


def test_reversed_migration_is_forgotten_and_candidates_removed(engine, monkeypatch):
    monkeypatch.setattr(migrate, "reverse", lambda migration: "0001")
    finished, said, forgotten = undo()
    assert finished and forgotten == [MIGRATION]
    assert said == ["database downgraded to 0001", "removed p-backend-next, p-frontend-next"]
    assert engine == [("remove", "p-backend-next"), ("remove", "p-frontend-next")]


def test_database_unreachable_keeps_the_candidates_stopped_for_a_later_try(engine, monkeypatch):
    downgrade_raises(monkeypatch, migrate.CheckFailed("could not connect"))
    finished, said, forgotten = undo()
    assert not finished and forgotten == []
    assert said[0] == "FAILED: database NOT restored: could not connect"
    assert said[1].startswith("FAILED: kept p-backend-next, p-frontend-next (stopped)")
    assert engine == [("stop", "p-backend-next"), ("stop", "p-frontend-next")]


def test_giving_up_removes_them_and_points_to_the_backup(engine, monkeypatch):
    downgrade_raises(monkeypatch, migrate.CheckFailed("could not connect"))
    finished, said, _ = undo(give_up=True)
    assert finished
    assert said[0].endswith(recover.RESTORE_ADVICE)
    assert ("remove", "p-backend-next") in engine


def test_a_migration_that_cannot_be_reversed_at_all_is_not_retried(engine, monkeypatch):
    downgrade_raises(monkeypatch, migrate.Irreversible("not Alembic"))
    finished, said, _ = undo()
    assert finished and said[0] == f"FAILED: database NOT restored: not Alembic; {recover.RESTORE_ADVICE}"
    assert ("remove", "p-backend-next") in engine


def test_candidate_gone_is_not_retried(engine, monkeypatch):
    monkeypatch.setattr(containers, "inspect", lambda name: None)
    finished, said, _ = undo()
    assert finished and said[0].startswith("FAILED: cannot reverse `alembic upgrade head`: p-backend-next is gone")


@pytest.mark.parametrize("error", [requests.exceptions.ConnectionError("refused"),
                                   requests.exceptions.ReadTimeout("slow"),
                                   requests.exceptions.ChunkedEncodingError("cut")])
def test_engine_transport_errors_become_one_clear_message(error):
    lost = docker.engine_failure(error)
    assert isinstance(lost, PlatformError)
    assert str(lost).startswith("lost the connection to the Docker engine (") and "bin/start-docker" in str(lost)


@pytest.mark.parametrize("error", [ValueError("a bug"), KeyError("x"), PlatformError("already clear")])
def test_other_errors_are_not_engine_failures(error):
    assert docker.engine_failure(error) is None


def test_remove_partials_takes_only_the_temporary_files(tmp_path):
    write_atomic(tmp_path / "manifest.json", "{}")
    (tmp_path / ".tmp-abc.partial").write_text("half")
    (tmp_path / "notes.partial").write_text("not ours")
    assert remove_partials(tmp_path) == [".tmp-abc.partial"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "notes.partial"]
