"""bin/git-hooks/pre-commit against real throwaway git repos laid out like the platform repo."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HOOKS = REPO / "bin" / "git-hooks"
INVOKE = Path(sys.executable).parent / "invoke"
CONF = "platform/nginx/conf.d/filter-ical.de.conf"
# Built by concatenation so this file holds no private-key marker itself.
KEY_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"
PRIVATE_KEY = "-----BEGIN " + f"OPENSSH PRIVATE KEY-----\n{KEY_BODY}\n-----END " + "OPENSSH PRIVATE KEY-----\n"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A committed platform-like repo: projects.yml and the conf.d the tool generates from it."""
    root = tmp_path_factory.mktemp("template")
    certs = tmp_path_factory.mktemp("certs")  # empty: every server is HTTP only
    env = isolated_env(certs)
    (root / "config").mkdir()
    shutil.copy(REPO / "config" / "projects.yml", root / "config" / "projects.yml")
    (root / "README.md").write_text("platform\n")
    run(["git", "init", "-q", "-b", "main"], root, env)
    run(["git", "config", "user.name", "Test"], root, env)
    run(["git", "config", "user.email", "test@example.com"], root, env)
    generate(root, env)
    run(["git", "add", "."], root, env)
    run(["git", "commit", "-q", "-m", "initial"], root, env)
    run(["git", "config", "core.hooksPath", str(HOOKS)], root, env)
    return root, env


@pytest.fixture
def repo(template, tmp_path):
    root, env = template
    copy = tmp_path / "platform"
    shutil.copytree(root, copy, symlinks=True)
    return Repo(copy, env)


def isolated_env(certs: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PLATFORM_", "GIT_"))}
    env.update(PLATFORM_CERTS_DIR=str(certs), GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    return env


def run(args, cwd, env, check=True):
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=check)


def generate(root: Path, env: dict) -> None:
    run([str(INVOKE), "--search-root", str(REPO), "nginx.generate"], root, {**env, "PLATFORM_ROOT": str(root)})


class Repo:
    def __init__(self, root: Path, env: dict):
        self.root, self.env = root, env

    def write(self, path: str, text: str) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def edit(self, path: str, old: str, new: str) -> None:
        text = (self.root / path).read_text()
        assert old in text
        self.write(path, text.replace(old, new))

    def commit(self, *paths: str, flags=()):
        run(["git", "add", "--", *paths], self.root, self.env)
        return run(["git", "commit", "-m", "change", *flags], self.root, self.env, check=False)

    def regenerate(self) -> None:
        generate(self.root, self.env)


def blocked(result) -> bool:
    return result.returncode != 0 and "BLOCKED" in result.stderr


def test_hand_edit_of_generated_config_is_blocked(repo):
    repo.write(CONF, (repo.root / CONF).read_text() + "# hand edit\n")
    result = repo.commit(CONF)
    assert blocked(result)
    assert "BLOCKED: Nginx config files were modified directly\n   Edit config/projects.yml instead" in result.stderr
    assert f"{CONF}: differs from projects.yml" in result.stderr
    assert "python3 lib/generate-nginx-configs.py && git add platform/nginx/conf.d" in result.stderr
    assert "To bypass (emergencies only): git commit --no-verify" in result.stderr


def test_regenerated_config_committed_with_its_projects_change_is_allowed(repo):
    repo.edit("config/projects.yml", "port: 3000", "port: 3001")
    repo.regenerate()
    assert "3001" in (repo.root / CONF).read_text()
    result = repo.commit("config/projects.yml", CONF)
    assert result.returncode == 0, result.stderr


def test_projects_change_without_regenerating_is_blocked(repo):
    repo.edit("config/projects.yml", "port: 3000", "port: 3001")
    result = repo.commit("config/projects.yml")
    assert blocked(result)
    assert f"{CONF}: differs from projects.yml" in result.stderr


def test_regenerated_but_unstaged_config_is_blocked(repo):
    """The index is what gets committed: a regenerated file left unstaged does not count."""
    repo.edit("config/projects.yml", "port: 3000", "port: 3001")
    repo.regenerate()
    result = repo.commit("config/projects.yml")
    assert blocked(result)
    assert f"{CONF}: differs from projects.yml" in result.stderr


def test_removed_project_leaves_a_stale_config_that_is_blocked(repo):
    repo.write("config/projects.yml", "projects: {}\n")
    result = repo.commit("config/projects.yml")
    assert blocked(result)
    assert f"{CONF}: stale, would be removed" in result.stderr


def test_invalid_projects_yml_is_blocked_with_the_validator_lines(repo):
    repo.edit("config/projects.yml", "port: 3000", "port: many")
    result = repo.commit("config/projects.yml")
    assert blocked(result)
    assert "BLOCKED: config/projects.yml is invalid" in result.stderr
    assert any(line.startswith("config/projects.yml: ") and "port" in line for line in result.stderr.splitlines())


def test_hand_written_config_without_the_marker_is_allowed(repo):
    repo.write("platform/nginx/conf.d/default.conf", "server { listen 80 default_server; return 444; }\n")
    result = repo.commit("platform/nginx/conf.d/default.conf")
    assert result.returncode == 0, result.stderr


def test_a_hand_written_file_in_a_generated_files_place_is_blocked_in_one_line(repo):
    repo.write(CONF, "server { listen 80; server_name filter-ical.de; return 200 'mine'; }\n")
    result = repo.commit(CONF)
    assert blocked(result)
    assert "was not generated by platform-deploy" in result.stderr and "Traceback" not in result.stderr


def test_a_hand_written_file_serving_a_projects_domain_is_blocked_and_fails_the_check(repo):
    repo.write("platform/nginx/conf.d/00-mine.conf", "server { listen 80; server_name filter-ical.de; }\n")
    result = repo.commit("platform/nginx/conf.d/00-mine.conf")
    assert blocked(result)
    assert ("platform/nginx/conf.d/00-mine.conf: server_name filter-ical.de belongs to projects/filter-ical"
            in result.stderr)
    check = run([str(INVOKE), "--search-root", str(REPO), "nginx.generate", "--check"], repo.root,
                {**repo.env, "PLATFORM_ROOT": str(repo.root)}, check=False)
    assert check.returncode == 1 and "belongs to projects/filter-ical" in check.stdout, check.stdout + check.stderr


@pytest.mark.parametrize("path", [".env.production", "config/filter-ical/.env", "config/filter-ical/.env.staging"])
def test_env_files_are_blocked(repo, path):
    repo.write(path, "SECRET_KEY=hunter2\n")
    result = repo.commit(path)
    assert blocked(result)
    assert f"{path}: env file" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


@pytest.mark.parametrize("path", [".env.example", "config/filter-ical/production.env.example"])
def test_env_examples_are_allowed(repo, path):
    repo.write(path, "SECRET_KEY=\n")
    result = repo.commit(path)
    assert result.returncode == 0, result.stderr


def test_private_key_is_blocked_without_showing_it(repo):
    repo.write("deploy/id_ed25519", PRIVATE_KEY)
    result = repo.commit("deploy/id_ed25519")
    assert blocked(result)
    assert "deploy/id_ed25519: contains a private key" in result.stderr
    assert KEY_BODY not in result.stderr + result.stdout
    assert "PRIVATE KEY-----" not in result.stderr + result.stdout


def test_private_key_staged_then_removed_from_working_tree_is_still_blocked(repo):
    repo.write("notes.txt", PRIVATE_KEY)
    run(["git", "add", "notes.txt"], repo.root, repo.env)
    repo.write("notes.txt", "nothing here\n")
    result = repo.commit()
    assert blocked(result)
    assert "notes.txt: contains a private key" in result.stderr


def test_no_verify_bypasses_the_hook(repo):
    repo.write(CONF, (repo.root / CONF).read_text() + "# hand edit\n")
    result = repo.commit(CONF, flags=["--no-verify"])
    assert result.returncode == 0, result.stderr


def test_unrelated_commit_is_allowed_quickly(repo):
    repo.write("README.md", "platform, documented\n")
    started = time.monotonic()
    result = repo.commit("README.md")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 2


def test_first_commit_is_checked(tmp_path, template):
    _, env = template
    run(["git", "init", "-q", "-b", "main"], tmp_path, env)
    run(["git", "config", "user.name", "Test"], tmp_path, env)
    run(["git", "config", "user.email", "test@example.com"], tmp_path, env)
    run(["git", "config", "core.hooksPath", str(HOOKS)], tmp_path, env)
    (tmp_path / ".env").write_text("TOKEN=x\n")
    (tmp_path / "README.md").write_text("hi\n")
    run(["git", "add", "."], tmp_path, env)
    result = run(["git", "commit", "-m", "first"], tmp_path, env, check=False)
    assert blocked(result)
    assert ".env: env file" in result.stderr


def test_missing_venv_blocks_with_how_to_create_it(repo, tmp_path):
    checkout = tmp_path / "checkout-without-venv"
    (checkout / "bin" / "git-hooks").mkdir(parents=True)
    shutil.copy2(HOOKS / "pre-commit", checkout / "bin" / "git-hooks" / "pre-commit")
    run(["git", "config", "core.hooksPath", str(checkout / "bin" / "git-hooks")], repo.root, repo.env)
    repo.write("README.md", "changed\n")
    result = repo.commit("README.md")
    assert result.returncode != 0
    assert "create it with bin/setup" in result.stderr


def test_commit_all_checks_the_files_it_stages(repo):
    repo.write(CONF, (repo.root / CONF).read_text() + "# hand edit\n")
    result = run(["git", "commit", "-a", "-m", "change"], repo.root, repo.env, check=False)
    assert blocked(result)
    assert f"{CONF}: differs from projects.yml" in result.stderr


def test_the_repos_own_venv_is_preferred(repo):
    python = repo.root / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\necho 'repo venv' >&2\nexit 1\n")
    python.chmod(0o755)
    repo.write("README.md", "changed\n")
    result = repo.commit("README.md")
    assert result.returncode != 0
    assert "repo venv" in result.stderr
