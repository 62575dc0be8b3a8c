"""Hostile projects.yml files and command lines, through the real CLI: one line, non-zero, nothing written.

Each case runs the shipped entry points as a user would (subprocesses), against a
temporary platform root. Docker is never reached: every case must be refused
before anything is started.
"""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INVOKE = [str(REPO / ".venv" / "bin" / "invoke"), "--search-root", str(REPO)]

VALID = b"""\
projects:
  site:
    domains: {production: site.example}
    containers:
      backend: {name: site-backend, port: 3000, image: 127.0.0.1:5000/site, api_locations: [/api]}
"""

ALIAS_BOMB = b"a: &a [x, x, x, x, x, x, x, x, x, x]\n" + b"".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n".encode() for i in range(7)
) + b"projects: {}\n"

HOSTILE = {
    "directive via domain": VALID.replace(b"site.example", b'"site.example; include /etc/passwd"'),
    "directive via domain newline": VALID.replace(b"site.example", b'"site.example\\n  return 200"'),
    "server block via location": VALID.replace(b"[/api]", b'["/api { return 200; } location /x"]'),
    "variable via location": VALID.replace(b"[/api]", b'["/api$host"]'),
    "comment via location": VALID.replace(b"[/api]", b'["/api#"]'),
    "quote via name": VALID.replace(b"name: site-backend", b"name: \"site'backend\""),
    "path traversal via env_file": VALID.replace(b"port: 3000", b"port: 3000, env_file: ../../etc/shadow"),
    "absolute env_file": VALID.replace(b"port: 3000", b"port: 3000, env_file: /etc/shadow"),
    "path traversal via project name": VALID.replace(b"  site:", b"  ../../etc:"),
    "port injection": VALID.replace(b"port: 3000", b'port: "3000; x"'),
    "port out of range": VALID.replace(b"port: 3000", b"port: 70000"),
    "port as boolean": VALID.replace(b"port: 3000", b"port: true"),
    "port as list": VALID.replace(b"port: 3000", b"port: [3000]"),
    "unknown key": VALID.replace(b"port: 3000", b"port: 3000, prot: 1"),
    "python tag": b"projects: !!python/object/apply:os.system ['touch /tmp/pwned']\n",
    "alias bomb": ALIAS_BOMB,
    "huge file": b"projects: {}\n#" + b"x" * (2 * 1024 * 1024),
    "invalid utf-8": VALID.replace(b"site.example", b"site\xff.example"),
    "not a mapping": b"- just\n- a list\n",
    "empty": b"",
    "binary": bytes(range(256)),
    "duplicate project": VALID + VALID[len(b"projects:\n"):],
    # issue 11: an entry names only its own things
    "superuser role": VALID + b"    database: {type: postgresql, user: postgres, databases: {production: site}}\n",
    "another tenant's database": VALID + b"    database: {type: postgresql, user: site, databases: {production: shop}}\n",
    "platform env file": VALID.replace(b"port: 3000", b"port: 3000, env_file: config/platform/.env.postgres"),
    "internal role label": VALID.replace(b"      backend:", b"      placeholder:"),
    "ip address as domain": VALID.replace(b"site.example", b"127.0.0.1"),
    "single-label domain": VALID.replace(b"site.example", b"default"),
    "wildcard over another project": VALID + VALID[len(b"projects:\n"):].replace(b"site:", b"thief:").replace(
        b"site.example", b'"*.site.example"').replace(b"site-backend", b"thief-backend"),
    "5,000-character location": VALID.replace(b"[/api]", b"[/" + b"a" * 5000 + b"]"),
    "sexagesimal port": VALID.replace(b"port: 3000", b"port: 1:30"),
    "hex port": VALID.replace(b"port: 3000", b"port: 0x50"),
}


@pytest.fixture
def root(tmp_path):
    (tmp_path / "config").mkdir()
    return tmp_path


def run(root: Path, *arguments: str, program=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PLATFORM_ROOT=str(root), PLATFORM_DEPLOYMENTS_DIR=str(root / "deployments"),
               PLATFORM_BACKUPS_DIR=str(root / "backups"), PLATFORM_CERTS_DIR=str(root / "certs"),
               DOCKER_HOST="unix:///nonexistent/docker.sock")
    return subprocess.run(program or [*INVOKE, *arguments], capture_output=True, text=True, env=env, timeout=60)


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def assert_refused(result, root, before):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    assert errors, "no message at all"
    assert all(len(line) < 400 for line in errors), errors
    assert files_under(root) == before, "something was written"


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("command", [
    ["nginx.generate"],
    ["nginx.generate", "--check"],
    ["deploy", "--project", "site", "--env", "production"],
])
def test_hostile_registry_is_refused_with_nothing_written(root, name, command):
    (root / "config" / "projects.yml").write_bytes(HOSTILE[name])
    before = files_under(root)
    result = run(root, *command)
    assert_refused(result, root, before)
    assert "config/projects.yml" in result.stderr + result.stdout


@pytest.mark.parametrize("arguments, expected", [
    ([], "usage:"),
    (["site"], "usage:"),
    (["nope", "production"], "no project 'nope'; valid: site"),
    (["site", "prod"], "has no environment 'prod'; valid: production"),
    (["site", "production", "--tag", "v1;rm"], "is not a Docker image tag"),
    (["site", "production", "--tag", "v1\n"], "is not a Docker image tag"),
    (["site", "production", "--frobnicate"], "frobnicate"),
    (["--force", "site"], "usage:"),
])
def test_bad_deploy_command_lines(root, arguments, expected):
    (root / "config" / "projects.yml").write_bytes(VALID)
    before = files_under(root)
    result = run(root, program=[str(REPO / "lib" / "deploy.sh"), *arguments])
    assert_refused(result, root, before)
    assert expected in result.stderr + result.stdout


def test_the_valid_registry_is_accepted(root):
    """The corpus's base case must pass, or every refusal above proves nothing."""
    (root / "config" / "projects.yml").write_bytes(VALID)
    result = run(root, "nginx.generate", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "server_name site.example;" in result.stdout
