"""Journal and manifest records: every format this project has written is read; newer ones are refused.

The fixtures are files the tool wrote (tests/unit/fixtures/state/):
  journal-format1.json   a deploy killed while switching, before the journal carried "format"
  manifest-schema2.json  successes, a rollback and an interrupted deploy cleaned up by recover
  manifest-seed.json     the original bash system's manifest (DEPLOYMENT.md): no schema, no status
"""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from platform_deploy.settings import Settings
from platform_deploy.state import manifest as manifest_file
from platform_deploy.state.records import (Action, Attempt, JournalEntry, Manifest, NewerFormat, Outcome, Phase,
                                           PutBack, Status, StepStatus, UnreadableState, all_done, done, needs_human,
                                           retry_later)

FIXTURES = Path(__file__).parent / "fixtures" / "state"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_a_format_1_journal_is_read_whole():
    entry = JournalEntry.from_json(fixture("journal-format1.json"), "journal.json")
    assert entry.phase is Phase.SWITCHING and entry.phase.exposed
    assert entry.old_names == ("shop-backend-production", "shop-frontend-production")
    assert [role.role for role in entry.roles] == ["backend", "frontend"]
    assert entry.roles[0].new_name.startswith("shop-backend-production-next-")
    assert [(m.before, m.after, m.alembic) for m in entry.migrations] == [("0002", "0003", True)]


def test_a_journal_round_trips_and_says_its_format():
    entry = JournalEntry.from_json(fixture("journal-format1.json"), "journal.json")
    written = entry.to_json()
    assert written["format"] == JournalEntry.FORMAT
    old = fixture("journal-format1.json")
    assert {key: value for key, value in written.items() if key not in ("format", "roles", "put_back")} == {
        key: value for key, value in old.items() if key != "roles"}
    assert written["put_back"] is None   # only a restore's journal has one
    # Format 2 adds each role's port (None when read from format 1: no drain, a plain stop) and drain
    # timeout (None when not recorded: the default).
    assert written["roles"] == [{**role, "port": None, "drain_timeout": None} for role in old["roles"]]
    assert JournalEntry.from_json(written, "journal.json") == entry


def test_a_schema_2_manifest_is_read_whole():
    manifest = Manifest.from_json(fixture("manifest-schema2.json"), "manifest.json", "shop", "production")
    assert [attempt.status for attempt in manifest.history] == [
        Status.INTERRUPTED_ROLLED_BACK, Status.ROLLED_BACK, Status.SUCCESS, Status.SUCCESS]
    assert manifest.current.version == "v2" and manifest.last_attempt == manifest.history[0]
    failed = manifest.history[1]
    assert failed.failed_step().name == "switch traffic" and failed.failed_step().status is StepStatus.FAILED
    assert failed.rollback and failed.status.rolled_back and not failed.status.went_live
    recovered = manifest.history[0]
    assert recovered.failure == "deploy process stopped during switching" and recovered.steps == ()


def test_written_attempts_keep_every_field_the_tool_wrote():
    data = fixture("manifest-schema2.json")
    manifest = Manifest.from_json(data, "manifest.json", "shop", "production")
    assert manifest.current.to_json() == data["current_deployment"]
    rewritten = manifest.to_json()
    assert rewritten["deployment_history"][1] == data["deployment_history"][1]
    # Entries recover wrote with fewer fields keep theirs and gain the rest with their defaults.
    assert data["deployment_history"][0].items() <= rewritten["deployment_history"][0].items()


def test_the_original_systems_manifest_reads_as_successful_deploys():
    manifest = Manifest.from_json(fixture("manifest-seed.json"), "manifest.json", "filter-ical", "production")
    assert manifest.current == Attempt(version="latest", deployed_at="2025-01-06T12:00:00Z", deployed_by="github-actions",
                                       git_sha="abc123def456", backup="backup_20250106_120000",
                                       images=fixture("manifest-seed.json")["current_deployment"]["images"])
    assert manifest.current.status is Status.SUCCESS and manifest.last_attempt == manifest.history[0]


@pytest.mark.parametrize("reader, data, key", [
    (lambda data: JournalEntry.from_json(data, "journal.json"), "journal-format1.json", "format"),
    (lambda data: Manifest.from_json(data, "manifest.json", "p", "e"), "manifest-schema2.json", "schema_version"),
])
def test_a_newer_format_is_refused_in_one_line(reader, data, key):
    newer = {**fixture(data), key: 99}
    with pytest.raises(UnreadableState, match=rf"{key} 99 is newer than this tool reads .*; upgrade platform-deploy$"):
        reader(newer)


@pytest.mark.parametrize("damaged", [[], {"phase": "nonsense"}, {"deploy_id": "x"},
                                     {**fixture("journal-format1.json"), "migrations": [{}]},
                                     {**fixture("journal-format1.json"), "roles": [[]]}])
def test_a_damaged_journal_is_one_line(damaged):
    with pytest.raises(UnreadableState) as raised:
        JournalEntry.from_json(damaged, "journal.json")
    assert "\n" not in str(raised.value) and str(raised.value).startswith("journal.json: ")


def test_recording_keeps_the_newest_ten_and_moves_current_only_on_success():
    manifest = Manifest("p", "e")
    for number in range(12):
        attempt = Attempt(version=f"v{number}", deployed_at="t", status=Status.SUCCESS if number % 2 else Status.ROLLED_BACK)
        manifest = manifest.recorded(attempt, current=attempt.status.went_live)
    assert len(manifest.history) == Manifest.HISTORY_LENGTH
    assert manifest.history[0].version == "v11" and manifest.current.version == "v11"
    manifest = manifest.recorded(Attempt(version="v12", deployed_at="t", status=Status.ABORTED), current=False)
    assert manifest.current.version == "v11" and manifest.last_attempt.version == "v12"


def test_actions_show_failed_unless_done():
    assert [str(a) for a in (done("removed x"), retry_later("db down"), needs_human("restore it"))] == [
        "removed x", "FAILED: db down", "FAILED: restore it"]
    assert all_done([done("a")]) and not all_done([done("a"), Action(Outcome.RETRY_LATER, "b")])


def test_recording_never_overwrites_a_newer_manifest_but_sets_a_damaged_one_aside(tmp_path):
    settings = Settings(root=tmp_path, deployments_dir=tmp_path / "d", backups_dir=tmp_path / "b")
    path = manifest_file.path(settings, "p", "e")
    path.parent.mkdir(parents=True)
    newer = json.dumps({**fixture("manifest-schema2.json"), "schema_version": 99})
    path.write_text(newer)
    attempt = Attempt(version="v1", deployed_at="t")
    with pytest.raises(NewerFormat):
        manifest_file.record(settings, "p", "e", attempt, current=True)
    assert path.read_text() == newer
    path.write_text(json.dumps({**fixture("manifest-schema2.json"), "schema_version": "two"}))
    assert manifest_file.record(settings, "p", "e", attempt, current=True).history == (attempt,)
    assert len(list(path.parent.glob("manifest.corrupt-*.json"))) == 1


def test_a_restores_put_back_record_round_trips():
    put_back = PutBack("backup_20261201_120000", "backup_20261201_130000",
                       (("volume", "shop-data-production"), ("database", "shop_production")),
                       ("postgres-platform", "shop_production", "shop"))
    entry = JournalEntry.from_json(fixture("journal-format1.json"), "journal.json")
    written = replace(entry, phase=Phase.PREPARE, put_back=put_back).to_json()
    assert written["put_back"]["changed"] == [["volume", "shop-data-production"], ["database", "shop_production"]]
    assert JournalEntry.from_json(written, "journal.json").put_back == put_back
