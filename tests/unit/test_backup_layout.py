"""Backup names, their order, and reserving one (tmp directories only)."""

import os
from datetime import datetime, timezone

import pytest
from deploy_world import ENV, PROJECT

from platform_deploy.backup import layout
from platform_deploy.errors import PlatformError

NOW = datetime(2025, 1, 6, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("name", ["backup_20250106_120000", "backup_20250106_120000_2", "backup_20250106_120000_99"])
def test_backup_names_are_accepted(name):
    assert layout.check_name(name, "demo", "production") == name


@pytest.mark.parametrize("name", ["", "backup_2025", "../../etc/passwd", "backup_20250106_120000/../x",
                                  "backup_20250106_120000_100", "latest", "backup_20250106_120000.meta"])
def test_anything_else_is_refused_before_it_becomes_a_path(name):
    with pytest.raises(PlatformError) as refused:
        layout.check_name(name, "demo", "production")
    assert str(refused.value) == (f"{name!r} is not a backup name (backup_YYYYMMDD_HHMMSS); list them with "
                                  "invoke backup.list --project demo --env production")


def test_names_sort_by_time_then_same_second_suffix():
    names = ["backup_20250106_120000_10", "backup_20250106_120000", "backup_20250105_235959",
             "backup_20250106_120000_2", "backup_20250106_120000_9"]
    assert sorted(names, key=layout.sort_key) == [
        "backup_20250105_235959", "backup_20250106_120000", "backup_20250106_120000_2",
        "backup_20250106_120000_9", "backup_20250106_120000_10"]


def test_two_backups_in_one_second_get_different_names(tmp_path):
    directory = tmp_path / "demo" / "production"
    first = layout.reserve_name(tmp_path, directory, NOW)
    second = layout.reserve_name(tmp_path, directory, NOW)
    assert (first, second) == ("backup_20250106_120000", "backup_20250106_120000_2")
    assert (directory / first).is_dir() and (directory / second).is_dir()
    assert directory.stat().st_mode & 0o777 == 0o700
    assert (directory / first).stat().st_mode & 0o777 == 0o700


def test_every_directory_a_backup_makes_under_the_backups_directory_is_private(world):
    """The project's directory too, not only the environment's (review of issue 11: it was 0755 by umask)."""
    world.deploy("v1")
    previous = os.umask(0o022)
    try:
        world.deploy("v2", skip_backup=False)
    finally:
        os.umask(previous)
    top = world.settings.backups_dir
    assert {str(path.relative_to(top.parent)): oct(path.stat().st_mode & 0o777)
            for path in (top, top / PROJECT, top / PROJECT / ENV)} == {
        "backups": "0o700", f"backups/{PROJECT}": "0o700", f"backups/{PROJECT}/{ENV}": "0o700"}


def test_a_name_taken_elsewhere_or_by_a_meta_is_skipped(tmp_path):
    (tmp_path / "backup_20250106_120000.meta").write_text("{}")
    taken = {"backup_20250106_120000_2"}
    assert layout.reserve_name(tmp_path, tmp_path, NOW, taken=taken.__contains__) == "backup_20250106_120000_3"


def test_image_tags_keep_environments_apart():
    assert layout.image_tag("backup_20250106_120000", "staging") == "backup_20250106_120000-staging"
    assert layout.image_tag("backup_20250106_120000", "production") == "backup_20250106_120000-production"
