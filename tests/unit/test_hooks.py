"""The pre-commit hook's decisions: pure functions over paths and staged bytes."""

import os

import pytest

from platform_deploy import hooks
from platform_deploy.config.load import parse_registry
from platform_deploy.hooks import (declared_env_files, has_private_key, is_env_file, report, secret_problems,
                                   touches_nginx)

BEGIN = "-----BEGIN "  # split so this file holds no private-key marker itself
PUTTY, AWS = "PuTTY-User-" + "Key-File-", "secret_" + "access_key"   # likewise


ENV_FILES = [".env", ".env.production", "config/filter-ical/.env.staging", "a/b/.env.local", ".envrc", "x/.ENVRC",
             ".Env.production", ".ENV", "env.production", "config/x/ENV.staging", "prod.env", "config/x/Worker.ENV",
             "config/x/worker.env.production", "config/x/.env.yml", ".env.json", "a/.env.sh", ".env.production.txt",
             ".env~", ".ENV.Production.YAML", ".envrc.sh", ".env.bak"]
NOT_ENV_FILES = [".env.example", "config/x/.env.production.example", "prod.env.example", ".Env.Production.EXAMPLE",
                 "env.example", "docs/env.md", "environment.yml", "lib/dotenv.py", "migrations/env.py",
                 "alembic/env.py", "config/env.yml", "src/env.ts", "environment.env.md", ".env.yml.example",
                 ".envrc.example", "config/x/.env.production.txt.Example"]


@pytest.mark.parametrize("path", ENV_FILES)
def test_env_files(path):
    assert is_env_file(path)


@pytest.mark.parametrize("path", NOT_ENV_FILES)
def test_not_env_files(path):
    assert not is_env_file(path)


REGISTRY = """\
projects:
  shop:
    domains: {production: shop.test, staging: staging.shop.test}
    containers:
      web: {name: shop-web, port: 8000, image: registry.test/shop, env_file: "config/shop/./vars-{environment}"}
      worker: {name: shop-worker, port: 8001, image: registry.test/shop}
"""


def test_files_the_registry_names_as_env_files_are_refused():
    declared = declared_env_files(parse_registry(REGISTRY.encode()))
    assert {"config/shop/vars-production", "config/shop/vars-staging", "config/shop/.env.production"} <= declared
    staged = {"config/shop/vars-production": b"A=1\n", "config/shop/notes.md": b"", "config/projects.yml": b""}
    assert secret_problems(staged, declared) == [
        "   config/shop/vars-production: env file; keep secrets out of git (commit a .env.example instead)"]


def test_the_hook_reads_the_staged_registry_for_env_files(tmp_path, monkeypatch, capsys):
    """Through main() on a throwaway repository: projects.yml is committed, the file it names is staged."""
    import shutil
    import subprocess
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    for name in [name for name in os.environ if name.startswith("GIT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)
    git("init", "-q")
    (tmp_path / "config" / "shop").mkdir(parents=True)
    (tmp_path / "config" / "projects.yml").write_text(REGISTRY)
    git("add", "config/projects.yml")
    git("commit", "-q", "-m", "registry")
    (tmp_path / "config" / "shop" / "vars-production").write_text("SIGNING=x\n")
    (tmp_path / "config" / "shop" / "notes.md").write_text("notes\n")
    git("add", "config/shop")
    monkeypatch.chdir(tmp_path)
    assert hooks.main() == 1
    err = capsys.readouterr().err
    assert "config/shop/vars-production: env file" in err and "notes.md" not in err and "SIGNING" not in err


def test_gitignore_ignores_what_the_hook_refuses(tmp_path):
    """.gitignore and the hook agree: git ignores every env file the hook refuses, and no template."""
    import shutil
    import subprocess
    from pathlib import Path
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shutil.copy(Path(__file__).parents[2] / ".gitignore", tmp_path / ".gitignore")
    # core.ignorecase off: the patterns must spell out both cases themselves (Linux checkouts)
    result = subprocess.run(["git", "-c", "core.ignorecase=false", "check-ignore", "--no-index", "--stdin"],
                            cwd=tmp_path, input="\n".join(ENV_FILES + NOT_ENV_FILES), capture_output=True, text=True)
    assert sorted(result.stdout.split()) == sorted(ENV_FILES)


@pytest.mark.parametrize("kind", ["", "RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED "])
def test_private_keys(kind):
    assert has_private_key(f"junk\n{BEGIN}{kind}PRIVATE KEY-----\nMIIB\n".encode())


@pytest.mark.parametrize("text", [f"{PUTTY}3: ssh-ed25519\nEncryption: none\n", f"{PUTTY}2: ssh-rsa\n",
                                  f"[default]\naws_{AWS} = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
                                  f"AWS_{AWS.upper()}=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
                                  f"{BEGIN}SSH2 ENCRYPTED PRIVATE KEY-----\n"])
def test_other_key_formats(text):
    assert has_private_key(text.encode())


@pytest.mark.parametrize("path", ["certs/client.p12", "x/KEYSTORE.PFX", "id_rsa.ppk", "deploy.jks"])
def test_key_stores_are_refused_by_name(path):
    assert secret_problems({path: b"\x30\x82binary"}) == [f"   {path}: a key store; keep keys out of git"]


def test_pgp_private_key_block():
    assert has_private_key(f"{BEGIN}PGP PRIVATE KEY BLOCK-----\n".encode())


@pytest.mark.parametrize("text", [f"{BEGIN}PUBLIC KEY-----", f"{BEGIN}CERTIFICATE-----", "ssh-ed25519 AAAA user@host",
                                  "the words private key in prose", "aws_secret_access_key = <your key here>",
                                  "read AWS_SECRET_ACCESS_KEY from the environment",
                                  "PuTTY-User-Key-File- is the header the hook looks for"])
def test_not_private_keys(text):
    assert not has_private_key(text.encode())


def test_touches_nginx():
    assert touches_nginx(["README.md", "config/projects.yml"])
    assert touches_nginx(["platform/nginx/conf.d/x.conf"])
    assert not touches_nginx(["README.md", "platform/nginx/snippets/proxy.conf", "config/projects.yml.bak"])


def test_secret_problems_name_files_only():
    staged = {"id_rsa": f"{BEGIN}RSA PRIVATE KEY-----\nSECRETBODY\n".encode(), ".env": b"TOKEN=SECRETBODY\n",
              "link": None, "README.md": b"hello\n"}
    problems = secret_problems(staged)
    assert problems == ["   .env: env file; keep secrets out of git (commit a .env.example instead)",
                        "   id_rsa: contains a private key"]


def test_report_is_empty_when_nothing_is_wrong():
    assert report() == []


def test_report_for_a_hand_edited_config():
    assert report(nginx_differs=["platform/nginx/conf.d/a.conf: differs from projects.yml"]) == [
        "BLOCKED: Nginx config files were modified directly",
        "   Edit config/projects.yml instead",
        "   platform/nginx/conf.d/a.conf: differs from projects.yml",
        "   Regenerate and stage them: python3 lib/generate-nginx-configs.py && git add platform/nginx/conf.d",
        "To bypass (emergencies only): git commit --no-verify",
    ]


def test_report_for_an_invalid_registry_shows_the_validator_lines():
    line = "config/projects.yml: projects/x/domains: required"
    assert report(config_problems=[line])[:2] == ["BLOCKED: config/projects.yml is invalid", line]
