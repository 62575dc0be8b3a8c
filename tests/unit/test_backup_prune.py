"""Retention decisions (pure) and the settings they come from."""

from datetime import datetime, timezone

import pytest
from fakes import FakeEngine

from platform_deploy.backup import prune
from platform_deploy.backup.prune import Decision, Policy
from platform_deploy.errors import ConfigError, PlatformError
from platform_deploy.settings import Settings

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def names(*stamps):
    return [f"backup_{stamp}" for stamp in stamps]


def test_keeps_the_newest_n_and_removes_the_rest():
    found = names("20250301_110000", "20250301_100000", "20250301_090000", "20250301_080000")
    assert prune.choose(found, Policy(keep=2, max_age_days=30), {}, NOW) == [
        Decision("backup_20250301_110000", False, "newest"),
        Decision("backup_20250301_100000", False, "within retention"),
        Decision("backup_20250301_090000", True, "beyond the newest 2"),
        Decision("backup_20250301_080000", True, "beyond the newest 2"),
    ]


def test_removes_backups_older_than_the_age_limit_even_within_the_count():
    found = names("20250301_110000", "20250215_000000", "20250101_000000")
    decisions = prune.choose(found, Policy(keep=10, max_age_days=30), {}, NOW)
    assert [(d.remove, d.reason) for d in decisions] == [
        (False, "newest"), (False, "within retention"), (True, "older than 30 days")]


def test_never_removes_the_newest_even_when_old():
    decisions = prune.choose(names("20200101_000000"), Policy(keep=1, max_age_days=1), {}, NOW)
    assert decisions == [Decision("backup_20200101_000000", False, "newest")]


def test_never_removes_a_protected_backup():
    found = names("20250301_110000", "20250301_100000", "20240101_000000")
    protected = {"backup_20240101_000000": "protected: backup of the live deployment"}
    decisions = prune.choose(found, Policy(keep=1, max_age_days=30), protected, NOW)
    assert [(d.name, d.remove, d.reason) for d in decisions] == [
        ("backup_20250301_110000", False, "newest"),
        ("backup_20250301_100000", True, "beyond the newest 1"),
        ("backup_20240101_000000", False, "protected: backup of the live deployment")]


def test_same_second_suffixes_count_as_separate_backups():
    found = ["backup_20250301_110000_2", "backup_20250301_110000"]
    decisions = prune.choose(found, Policy(keep=1, max_age_days=30), {}, NOW)
    assert [d.remove for d in decisions] == [False, True]
    assert prune.created("backup_20250301_110000_2") == datetime(2025, 3, 1, 11, 0, tzinfo=timezone.utc)


def test_the_live_deployment_and_its_restore_source_are_protected(tmp_path):
    settings = Settings(root=tmp_path, deployments_dir=tmp_path / "deployments", backups_dir=tmp_path / "backups")
    state = tmp_path / "deployments" / "demo" / "production"
    state.mkdir(parents=True)
    (state / "manifest.json").write_text('{"current_deployment": {"backup": "backup_20250301_100000", '
                                         '"restored_from": "backup_20250201_100000"}}')
    assert prune.protected_names(settings, "demo", "production", extra=("backup_20250301_110000", None)) == {
        "backup_20250301_110000": "protected: named by the caller",
        "backup_20250201_100000": "protected: the live deployment was restored from it",
        "backup_20250301_100000": "protected: backup of the live deployment",
    }
    (state / "manifest.json").write_text("{not json")
    with pytest.raises(PlatformError, match="is not valid JSON, so the backup of the live deployment is unknown"):
        prune.protected_names(settings, "demo", "production")


def test_prune_on_an_empty_directory_removes_nothing(tmp_path):
    settings = Settings(root=tmp_path, deployments_dir=tmp_path / "d", backups_dir=tmp_path / "b")
    result = prune.prune(FakeEngine(), settings, "demo", "production", Policy(1, 1), now=NOW)
    assert result.removed == [] and result.summary().startswith("backups: 0 removed, 0 kept; 0.0 MB freed")


def test_policy_defaults_come_from_settings_and_arguments_win():
    settings = Settings(backup_keep=4, backup_max_age_days=7.0)
    assert prune.policy(settings) == Policy(4, 7.0)
    assert prune.policy(settings, keep="2", max_age_days="1.5") == Policy(2, 1.5)
    assert prune.policy(Settings()) == Policy(10, 30.0)


@pytest.mark.parametrize("keep, age, message", [
    (0, None, "--keep 0: keep at least 1 backup"),
    (None, 0, "--max-age-days 0: must be more than 0"),
    ("ten", None, "--keep 'ten' / --max-age-days None: give numbers, e.g. --keep 10 --max-age-days 30"),
])
def test_policy_refuses_nonsense(keep, age, message):
    with pytest.raises(PlatformError) as refused:
        prune.policy(Settings(), keep, age)
    assert str(refused.value) == message


def test_retention_settings_load_from_the_environment_and_invoke_yaml():
    loaded = Settings.load({"backup_keep": 5}, environ={"PLATFORM_BACKUP_MAX_AGE_DAYS": "14"})
    assert (loaded.backup_keep, loaded.backup_max_age_days) == (5, 14.0)
    assert isinstance(loaded.backup_keep, int)
    with pytest.raises(ConfigError) as refused:
        Settings.load({}, environ={"PLATFORM_BACKUP_KEEP": "1.5"})
    assert str(refused.value) == "setting backup_keep (PLATFORM_BACKUP_KEEP): '1.5' is not a whole number"
