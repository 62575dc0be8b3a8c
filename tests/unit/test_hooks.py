"""The pre-commit hook's decisions: pure functions over paths and staged bytes."""

import pytest

from platform_deploy.hooks import has_private_key, is_env_file, report, secret_problems, touches_nginx

BEGIN = "-----BEGIN "  # split so this file holds no private-key marker itself


@pytest.mark.parametrize("path", [".env", ".env.production", "config/filter-ical/.env.staging", "a/b/.env.local"])
def test_env_files(path):
    assert is_env_file(path)


@pytest.mark.parametrize("path", [".env.example", "config/x/.env.production.example", "prod.env.example",
                                  "docs/env.md", "environment.yml", ".envrc", "lib/dotenv.py"])
def test_not_env_files(path):
    assert not is_env_file(path)


@pytest.mark.parametrize("kind", ["", "RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED "])
def test_private_keys(kind):
    assert has_private_key(f"junk\n{BEGIN}{kind}PRIVATE KEY-----\nMIIB\n".encode())


def test_pgp_private_key_block():
    assert has_private_key(f"{BEGIN}PGP PRIVATE KEY BLOCK-----\n".encode())


@pytest.mark.parametrize("text", [f"{BEGIN}PUBLIC KEY-----", f"{BEGIN}CERTIFICATE-----", "ssh-ed25519 AAAA user@host",
                                  "the words private key in prose"])
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
