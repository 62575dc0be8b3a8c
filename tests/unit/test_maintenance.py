"""Maintenance mode: config/maintenance.yml read and written, and the 503 servers nginx is given for it.

No Docker and no nginx here: the rendered text is checked as text (nginx's own parse of it is not run).
"""

import json
import os
import re
import shutil
import subprocess

import pytest

from platform_deploy import hooks
from platform_deploy.config import maintenance
from platform_deploy.config.maintenance import Maintenance
from platform_deploy.errors import ConfigError
from platform_deploy.nginx import files
from platform_deploy.nginx.render import html_page, json_answer, render_registry
from platform_deploy.settings import Settings
from seed import DEPLOYMENT_EXAMPLE

SINCE = "2026-12-02T05:00:00Z"
CLOSED = {("filter-ical", "production"): Maintenance("Back at 06:00 UTC.", SINCE, 300)}
HOSTILE = ['say "hi"; return 200 x;', "costs $host ${request_uri} $$ $", "a } b { c", "back\\slash \\\" \\$x",
           "<script>alert(1)</script> & 'quotes'", "Wartung bis 6 Uhr – ÄÖÜ ✓ 🙂", "#not a comment; }"]


def render(load, closed=CLOSED, tls=lambda name: name == "filter-ical.de"):
    return render_registry(load(DEPLOYMENT_EXAMPLE), tls, maintenance=closed).files["filter-ical.de.conf"]


def servers(text):
    """{'<environment>' or '<environment> tls': server body} of a rendered file."""
    found = {}
    for block in re.split(r"\n(?=# filter-ical / )", text)[1:]:
        environment = block.split()[3].rstrip(":")
        for server in re.findall(r"server \{\n.*?\n\}", block, re.S):
            found[environment + (" tls" if "listen 443" in server else "")] = server
    return found


def location(server, opener):
    match = re.search(rf"\n    {re.escape(opener)} \{{\n(.*?)\n    \}}", server, re.S)
    assert match, opener
    return match.group(1)


# --- the state file ----------------------------------------------------------------------------

def test_round_trip(load):
    registry = load(DEPLOYMENT_EXAMPLE)
    state = {**CLOSED, ("filter-ical", "staging"): Maintenance(HOSTILE[5] + ' "$x"', SINCE, 60)}
    text = maintenance.dump(state)
    assert text.startswith("# Written by `invoke app.maintenance`")
    assert maintenance.parse(text.encode(), registry) == state
    assert maintenance.dump({}) is None


def test_absent_file_and_empty_entries_mean_no_maintenance(load, tmp_path):
    registry = load(DEPLOYMENT_EXAMPLE)
    assert maintenance.load(tmp_path / "absent.yml", registry) == {}
    assert maintenance.parse(b"", registry) == {}
    assert maintenance.parse(b"filter-ical:\n", registry) == {}
    assert maintenance.parse(b"filter-ical: {staging: }\n", registry) == {}


def test_unquoted_since_is_read_as_written(load):
    text = b"filter-ical: {production: {message: Back soon., since: 2026-12-02T05:00:00Z, retry_after: 300}}"
    assert maintenance.parse(text, load(DEPLOYMENT_EXAMPLE)) == {
        ("filter-ical", "production"): Maintenance("Back soon.", SINCE, 300)}


@pytest.mark.parametrize("text, problem", [
    ("filter-ical: [", "config/maintenance.yml: line 2, column 1: did not find expected node content"),
    ("- filter-ical", "config/maintenance.yml: ['filter-ical'] is not a mapping"),
    ("shop: {production: {message: x, since: 2026-12-02T05:00:00Z, retry_after: 1}}",
     "config/maintenance.yml: shop: no project 'shop' in config/projects.yml; remove the entry"),
    ("filter-ical: {preview: {message: x, since: 2026-12-02T05:00:00Z, retry_after: 1}}",
     "config/maintenance.yml: filter-ical/preview: filter-ical has no environment 'preview' (its environments: "
     "production, staging); remove the entry"),
    ("filter-ical: {production: {message: 42, since: 2026-12-02T05:00:00Z, retry_after: 1}}",
     "config/maintenance.yml: filter-ical/production/message: 42 is not a non-empty text"),
    (f"filter-ical: {{production: {{message: {'x' * 301}, since: 2026-12-02T05:00:00Z, retry_after: 1}}}}",
     f"config/maintenance.yml: filter-ical/production/message: '{'x' * 56}... is longer than 300 characters"),
    ('filter-ical: {production: {message: "two\\nlines", since: 2026-12-02T05:00:00Z, retry_after: 1}}',
     "config/maintenance.yml: filter-ical/production/message: 'two\\nlines' holds a control character or a line "
     "break; give one line of text"),
    ('filter-ical: {production: {message: "bell\\a", since: 2026-12-02T05:00:00Z, retry_after: 1}}',
     "config/maintenance.yml: filter-ical/production/message: 'bell\\x07' holds a control character or a line "
     "break; give one line of text"),
    ("filter-ical: {production: {message: x, since: yesterday, retry_after: 1}}",
     "config/maintenance.yml: filter-ical/production/since: 'yesterday' is not a UTC time like 2026-12-02T05:00:00Z"),
    ("filter-ical: {production: {message: x, since: 2026-12-02T05:00:00Z, retry_after: 0}}",
     "config/maintenance.yml: filter-ical/production/retry_after: 0 is not a whole number of seconds from 1 to 604800"),
    ("filter-ical: {production: {message: x, since: 2026-12-02T05:00:00Z, retry_after: soon}}",
     "config/maintenance.yml: filter-ical/production/retry_after: 'soon' is not a whole number of seconds from 1 "
     "to 604800"),
    ("filter-ical: {production: {message: x, since: 2026-12-02T05:00:00Z}}",
     "config/maintenance.yml: filter-ical/production: missing required key 'retry_after'"),
])
def test_invalid_files_are_one_line_per_problem(load, text, problem):
    with pytest.raises(ConfigError) as caught:
        maintenance.parse(text.encode(), load(DEPLOYMENT_EXAMPLE))
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(problem), caught.value.problems[0]
    assert "\n" not in caught.value.problems[0]


def test_command_line_entries_name_the_option():
    assert maintenance.entry("Back soon.", "120", SINCE) == Maintenance("Back soon.", SINCE, 120)
    with pytest.raises(ConfigError) as caught:
        maintenance.entry("a\tb", "-1", SINCE)
    assert caught.value.problems == [
        "app.maintenance: --message: 'a\\tb' holds a control character or a line break; give one line of text",
        "app.maintenance: --retry-after: '-1' is not a whole number of seconds from 1 to 604800"]


# --- rendering ---------------------------------------------------------------------------------

def test_an_environment_in_maintenance_answers_503_with_retry_after(load):
    text = render(load)
    tls = servers(text)["production tls"]
    assert "    set $maintenance_retry_after 300;\n    if ($remote_addr = 127.0.0.1) {\n" in tls
    for opener in ("location = /api", "location ^~ /api/", "location ^~ /admin/", "location /"):
        body = location(tls, opener)
        api = opener != "location /"
        assert f"default_type {'application/json' if api else 'text/html'};" in body
        assert "add_header Retry-After $maintenance_retry_after always;" in body
        assert "        if ($maintenance_retry_after) {\n            return 503 " in body
        # the check comes before the proxying; the proxying stays for the platform's own checks
        assert body.index("return 503") < body.index("include snippets/proxy.conf;")
        assert "include snippets/security-headers.conf;" in body and "include snippets/hsts.conf;" in body
    assert ('return 503 "{\\"error\\": \\"maintenance\\", \\"message\\": \\"Back at 06:00 UTC.\\"}";'
            in location(tls, "location = /api"))
    assert "<p>Back at 06:00 UTC.</p>" in location(tls, "location /")


def test_acme_redirect_and_the_other_environment_are_unaffected(load):
    closed, open_ = servers(render(load)), servers(render(load, closed={}))
    assert closed["production"] == open_["production"]            # port 80: ACME and the redirect to HTTPS
    assert closed["staging"] == open_["staging"]
    assert "maintenance" not in closed["staging"]
    assert "503" not in location(closed["production tls"], "location @spa_fallback")


def test_http_only_server_in_maintenance_keeps_acme(load):
    state = {("filter-ical", "staging"): Maintenance("Back soon.", SINCE, 60)}
    staging = servers(render(load, closed=state))["staging"]
    acme = location(staging, "location ^~ /.well-known/acme-challenge/")
    assert "root /var/www/certbot;" in acme and "503" not in acme and "Retry-After" not in acme
    assert "set $maintenance_retry_after 60;" in staging
    assert "return 503" in location(staging, "location /") and "return 503" in location(staging, "location = /api")


def test_maintenance_keeps_the_marker_and_the_file_name(load):
    result = render_registry(load(DEPLOYMENT_EXAMPLE), lambda name: True, maintenance=CLOSED)
    assert list(result.files) == ["filter-ical.de.conf"]
    assert result.files["filter-ical.de.conf"].startswith("# Generated from config/projects.yml")


# --- escaping the message ----------------------------------------------------------------------

def nginx_unquote(token: str) -> str:
    """What nginx makes of a double-quoted string (ngx_conf_file.c: \\" \\' \\\\ \\t \\r \\n)."""
    assert token[0] == token[-1] == '"'
    inner, out, index = token[1:-1], [], 0
    while index < len(inner):
        char = inner[index]
        if char == "\\" and index + 1 < len(inner):
            following = inner[index + 1]
            out.append({"t": "\t", "r": "\r", "n": "\n"}.get(following, following if following in "\"'\\" else
                                                               "\\" + following))
            index += 2
            continue
        assert char != '"', f"unescaped quote ends the string early: {token}"
        out.append(char)
        index += 1
    return "".join(out)


@pytest.mark.parametrize("message", HOSTILE)
def test_hostile_messages_stay_inside_their_string(message):
    for token in (html_page(message), json_answer(message)):
        assert "$" not in token                                   # nginx would expand it as a variable
        assert re.fullmatch(r'"(?:[^"\\]|\\.)*"', token), token   # one string token, closed once at its end
        assert token.isascii()
    assert json.loads(nginx_unquote(json_answer(message))) == {"error": "maintenance", "message": message}
    page = nginx_unquote(html_page(message))
    assert "<script>" not in page and "\\" not in page and "$" not in page


@pytest.mark.parametrize("message", HOSTILE)
def test_hostile_messages_in_a_rendered_file(load, message):
    text = render(load, closed={("filter-ical", "production"): Maintenance(message, SINCE, 300)})
    for line in text.splitlines():
        if "return 503" in line:
            assert re.fullmatch(r'            return 503 "(?:[^"\\$]|\\.)*";', line), line
    for variable in re.findall(r"\$\w+", text):
        assert variable in {"$maintenance_retry_after", "$remote_addr", "$upstream", "$host", "$request_uri"}


# --- files.plan and the pre-commit hook ---------------------------------------------------------

@pytest.fixture
def settings(tmp_path):
    settings = Settings(root=tmp_path, certs_dir=tmp_path / "letsencrypt")
    settings.projects_file.parent.mkdir(parents=True)
    settings.projects_file.write_text(DEPLOYMENT_EXAMPLE)
    return settings


def test_plan_renders_the_recorded_state(load, settings):
    registry = load(DEPLOYMENT_EXAMPLE)
    files.apply(settings, files.plan(settings, registry))
    settings.maintenance_file.write_text(maintenance.dump(CLOSED))
    planned = files.plan(settings, registry)
    assert planned.write == ("filter-ical.de.conf",) and "return 503" in planned.files["filter-ical.de.conf"]
    files.apply(settings, planned)
    assert files.plan(settings, registry).differs == ()            # --check: generated, not a hand edit
    settings.maintenance_file.unlink()
    assert files.plan(settings, registry).write == ("filter-ical.de.conf",)


def test_plan_refuses_an_invalid_state_file(load, settings):
    settings.maintenance_file.write_text("nope: {production: {}}\n")
    with pytest.raises(ConfigError, match=r"^config/maintenance.yml: nope: no project 'nope'"):
        files.plan(settings, load(DEPLOYMENT_EXAMPLE))


def test_touches_nginx_includes_the_state_file():
    assert hooks.touches_nginx(["config/maintenance.yml"])


def test_report_names_the_invalid_state_file():
    line = "config/maintenance.yml: x: no project 'x' in config/projects.yml; remove the entry"
    assert hooks.report(config_problems=[line])[:2] == ["BLOCKED: config/maintenance.yml is invalid", line]


@pytest.fixture
def repo(tmp_path, monkeypatch, load):
    """A throwaway platform repo with projects.yml and its generated conf.d committed; the hook runs in it."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    for name in [name for name in os.environ if name.startswith(("GIT_", "PLATFORM_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("PLATFORM_CERTS_DIR", str(tmp_path / "letsencrypt"))
    root = tmp_path / "platform"
    settings = Settings(root=root, certs_dir=tmp_path / "letsencrypt")
    settings.projects_file.parent.mkdir(parents=True)
    settings.projects_file.write_text(DEPLOYMENT_EXAMPLE)
    files.apply(settings, files.plan(settings, load(DEPLOYMENT_EXAMPLE)))

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True,
                       capture_output=True)
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "platform")
    monkeypatch.chdir(root)
    return settings, git


def test_hook_accepts_generated_maintenance_configs_with_their_state(repo, load, capsys):
    settings, git = repo
    settings.maintenance_file.write_text(maintenance.dump(CLOSED))
    files.apply(settings, files.plan(settings, load(DEPLOYMENT_EXAMPLE)))
    git("add", ".")
    assert hooks.main() == 0, capsys.readouterr().err


def test_hook_refuses_maintenance_configs_without_their_state(repo, load, capsys):
    settings, git = repo
    settings.maintenance_file.write_text(maintenance.dump(CLOSED))
    files.apply(settings, files.plan(settings, load(DEPLOYMENT_EXAMPLE)))
    git("add", "platform")
    assert hooks.main() == 1
    assert "platform/nginx/conf.d/filter-ical.de.conf: differs from projects.yml" in capsys.readouterr().err


def test_hook_refuses_a_hand_edit_during_maintenance(repo, load, capsys):
    settings, git = repo
    settings.maintenance_file.write_text(maintenance.dump(CLOSED))
    files.apply(settings, files.plan(settings, load(DEPLOYMENT_EXAMPLE)))
    conf = settings.conf_dir / "filter-ical.de.conf"
    conf.write_text(conf.read_text().replace("Retry-After", "X-Retry"))
    git("add", ".")
    assert hooks.main() == 1
    assert "filter-ical.de.conf: differs from projects.yml" in capsys.readouterr().err
