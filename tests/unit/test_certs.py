"""Certificates without a network: which are due, how they are installed and put back, what nginx gets,
what the user reads. The ACME conversation itself is tested against pebble (tests/integration/test_certs*.py)."""

import os
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

import certificates
from deploy_world import ENV, NGINX, PROJECT
from platform_deploy import certfiles
from platform_deploy.certfiles import State
from platform_deploy.certs import challenge, client, install, report, run, timer
from platform_deploy.deploy import preflight
from platform_deploy.errors import ConfigError, PlatformError
from platform_deploy.nginx import files
from platform_deploy.nginx import live as nginx_live
from platform_deploy.settings import Settings
from platform_deploy.status import prometheus

NOW = certfiles.utc_now()
NAME = "shop.test"


def put(settings, domains=(NAME,), days_left=60.0, name=NAME) -> install.Installed:
    fullchain, key = certificates.issue(list(domains), days_left, NOW)
    return install.install(settings.certs_dir, name, fullchain, key)


def conf(world) -> str:
    return (world.settings.conf_dir / "shop.test.conf").read_text()


def nginx_commands(world) -> list:
    return [args[1] for _, args in world.engine.logged("exec_run") if args[1][0] == "nginx"]


# --- which certificates, and which are due ---------------------------------------------------------

def test_wanted_names_one_certificate_per_environment_and_leaves_wildcards_out(load):
    registry = load({"projects": {"a": {"domains": {"production": ["a.test", "*.a.test", "www.a.test"],
                                                    "staging": "*.staging.a.test"},
                                        "containers": {"web": {"name": "a-web", "port": 80}}}}})
    production, staging = certfiles.wanted(registry)
    assert (production.name, production.domains, production.wildcards) == ("a.test", ("a.test", "www.a.test"),
                                                                           ("*.a.test",))
    assert (staging.name, staging.domains) == ("staging.a.test", ())
    assert certfiles.wanted(registry, environment="staging") == [staging]
    other = load({"projects": {"b": {"domains": {"production": ["*.b.test", "c.test"]},
                                     "containers": {"web": {"name": "b-web", "port": 80}}}}})
    [wildcard_first] = certfiles.wanted(other)
    assert (wildcard_first.name, wildcard_first.domains) == ("b.test", ("c.test",))   # where nginx looks
    with pytest.raises(PlatformError, match="no environment 'qa'"):
        certfiles.wanted(registry, "a", "qa")


def test_survey_tells_valid_due_expired_missing_and_unreadable(world):
    settings, want = world.settings, certfiles.wanted(world.registry)[0]

    def state():
        return certfiles.survey(settings.certs_dir, [want], NOW, settings.certs_renew_days)[0]
    assert state().state is State.MISSING
    put(settings, days_left=60)
    assert state().state is State.VALID and state().certificate.days_left(NOW) == 59
    put(settings, days_left=10)
    assert state().state is State.DUE and "in 9 days" in state().detail
    put(settings, days_left=-1)
    assert state().state is State.EXPIRED
    put(settings, domains=("other.test",))
    assert (state().state, state().detail) == (State.DUE, "does not cover shop.test")
    (certfiles.live_dir(settings.certs_dir, NAME) / "fullchain.pem").write_text("garbage")
    assert state().state is State.UNREADABLE and "not a PEM certificate chain" in state().detail


def test_decisions_issue_missing_renew_due_and_leave_valid_ones(world):
    settings, wants = world.settings, certfiles.wanted(world.registry)

    def decided(**flags):
        return [(d.result, d.detail) for d in run.decide(settings, wants, NOW, **flags)]
    assert decided(force=False, renew_only=False) == [(None, "no certificate")]
    assert decided(force=False, renew_only=True) == [(run.Result.SKIPPED, "no certificate yet (invoke certs.issue)")]
    put(settings, days_left=60)
    [(result, detail)] = decided(force=False, renew_only=True)
    assert result is run.Result.VALID and detail.startswith("until ") and detail.endswith("59 days left")
    assert decided(force=True, renew_only=True) == [(None, "forced")]
    put(settings, days_left=29)
    assert decided(force=False, renew_only=True)[0][0] is None


# --- installing ------------------------------------------------------------------------------------

def test_install_swaps_key_and_chain_together_privately_through_a_relative_link(world):
    certs = world.settings.certs_dir
    certs.mkdir(parents=True, exist_ok=True)
    certs.chmod(0o755)   # /etc/letsencrypt: other services may read below it; left as it is
    first = put(world.settings)
    assert stat.S_IMODE(certs.stat().st_mode) == 0o755
    live = certfiles.live_dir(certs, NAME)
    assert live.is_symlink() and not os.readlink(live).startswith("/")   # resolves inside platform-nginx too
    assert first.previous is None
    for path in (live / "fullchain.pem", live / "privkey.pem"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in (certs / "live", certs / "archive", certs / "archive" / NAME, first.version):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    second = put(world.settings)
    assert second.previous == os.readlink(live).replace(second.version.name, first.version.name)
    install.put_back(certs, second)
    assert live.resolve() == first.version.resolve()
    install.put_back(certs, first)
    assert not live.exists() and not live.is_symlink()


def test_a_half_written_certificate_is_never_installed(world, monkeypatch):
    put(world.settings)
    live = certfiles.live_dir(world.settings.certs_dir, NAME)
    before = os.readlink(live)
    real_write = install._write_durably

    def dies_on_the_key(path, data):
        if path.name == "privkey.pem":
            raise OSError(28, "No space left on device")
        real_write(path, data)
    monkeypatch.setattr(install, "_write_durably", dies_on_the_key)
    fullchain, key = certificates.issue([NAME], 90, NOW)
    with pytest.raises(OSError):
        install.install(world.settings.certs_dir, NAME, fullchain, key)
    assert os.readlink(live) == before
    assert [p.name for p in (world.settings.certs_dir / "archive" / NAME).iterdir()] == [before.split("/")[-1]]


def test_a_key_that_is_not_the_certificates_is_refused_before_anything_changes(world):
    fullchain, _ = certificates.issue([NAME], 90, NOW)
    _, other_key = certificates.issue([NAME], 90, NOW)
    with pytest.raises(PlatformError, match="^the issued certificate does not match its private key; not installed$"):
        install.install(world.settings.certs_dir, NAME, fullchain, other_key)
    with pytest.raises(PlatformError, match="not valid PEM"):
        install.install(world.settings.certs_dir, NAME, b"-----BEGIN CERTIFICATE-----\nxx", other_key)
    assert not (world.settings.certs_dir / "live").exists()


def test_a_directory_certbot_made_is_not_replaced(world):
    live = certfiles.live_dir(world.settings.certs_dir, NAME)
    live.mkdir(parents=True)
    with pytest.raises(PlatformError, match="did not make \\(certbot's\\?\\); move it away"):
        put(world.settings)


def test_prune_keeps_the_live_version_and_the_one_before(world):
    versions = [put(world.settings).version for _ in range(4)]
    (world.settings.certs_dir / "archive" / NAME / ".tmp-killed").mkdir()
    install.prune(world.settings.certs_dir, NAME)
    assert sorted((world.settings.certs_dir / "archive" / NAME).iterdir()) == versions[2:]


# --- the challenge files -----------------------------------------------------------------------------

def test_challenge_values_reach_the_shell_as_parameters_only(world):
    challenge.publish(world.engine, world.settings, "tok_en-1", "tok_en-1.thumb_print")
    challenge.withdraw(world.engine, world.settings, "tok_en-1")
    (_, (name, publish)), (_, (_, withdraw)) = world.engine.logged("exec_run")[-2:]
    assert name == NGINX
    assert publish[:2] == ["sh", "-c"] and publish[3:] == ["publish", challenge.DIRECTORY, "tok_en-1",
                                                           "tok_en-1.thumb_print"]
    assert withdraw[3:] == ["withdraw", challenge.DIRECTORY, "tok_en-1"]


@pytest.mark.parametrize("token", ["../../etc/passwd", "a b", "", "x" * 300, "tok$(id)"])
def test_a_hostile_token_is_never_written(world, token):
    with pytest.raises(PlatformError, match="not base64url; not written"):
        challenge.publish(world.engine, world.settings, token, f"{token}.abc")
    assert not world.engine.logged("exec_run")


# --- issuing, as the task drives it (the ACME conversation replaced) ------------------------------------

@pytest.fixture
def acme(world, monkeypatch):
    """client.obtain answering with a certificate for the asked domains, after publishing one challenge."""
    asked = []

    def obtain(settings, domains, key, publish, withdraw):
        asked.append(domains)
        publish("token", "token.thumbprint")
        withdraw("token")
        fullchain, key_pem = certificates.issue(list(domains), 90, NOW)
        return client.Issued(fullchain, key_pem)
    monkeypatch.setattr(client, "obtain", obtain)
    return asked


def issue_all(world, force=False, renew_only=False):
    decisions = run.decide(world.settings, certfiles.wanted(world.registry), NOW, force=force, renew_only=renew_only)
    return run.run(world.engine, world.settings, world.registry, decisions)


def test_an_issued_certificate_is_served_over_https_after_nginx_accepts_it(world, acme):
    assert "listen 443" not in conf(world)
    [outcome] = issue_all(world)
    assert outcome.result is run.Result.ISSUED, outcome.line
    assert outcome.line.startswith("shop/production shop.test: issued: no certificate; now valid until ")
    assert acme == [("shop.test",)]
    assert "listen 443 ssl" in conf(world)
    assert "ssl_certificate /etc/letsencrypt/live/shop.test/fullchain.pem" in conf(world)
    assert nginx_commands(world) == [["nginx", "-t"], ["nginx", "-s", "reload"]]
    key_file = run.account_key_path(world.settings)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    [again] = issue_all(world, renew_only=True)
    assert again.result is run.Result.VALID and len(acme) == 1     # idempotent: nothing ordered


@pytest.mark.parametrize("step, reason, said", [
    ("test_config", "nginx rejected the configuration: cannot load certificate", "; previous files restored"),
    ("reload", "nginx reload failed: signal process started", ""),   # accepted, then not reloaded
])
def test_nginx_refusing_the_tls_config_leaves_http_only_and_no_certificate(world, acme, monkeypatch, step, reason,
                                                                           said):
    before = conf(world)

    def refused(engine, settings):
        raise PlatformError(reason)
    monkeypatch.setattr(nginx_live, step, refused)
    [outcome] = issue_all(world)
    assert outcome.result is run.Result.FAILED and outcome.detail.startswith(reason + said)
    assert "the new certificate is not in use (kept in " in outcome.detail and "\n" not in outcome.detail
    assert conf(world) == before and "listen 443" not in before   # conf.d names no certificate that is gone
    assert not certfiles.live_dir(world.settings.certs_dir, NAME).exists()


def test_a_failed_renewal_keeps_the_previous_certificate(world, acme, monkeypatch):
    put(world.settings, days_left=5)
    before = os.readlink(certfiles.live_dir(world.settings.certs_dir, NAME))

    def refused(*args, **kwargs):
        raise client.AcmeFailed("rate limited by the ACME server: too many certificates; try again later")
    monkeypatch.setattr(client, "obtain", refused)
    [outcome] = issue_all(world, renew_only=True)
    assert outcome.line == ("shop/production shop.test: failed: rate limited by the ACME server: too many "
                            "certificates; try again later")
    assert os.readlink(certfiles.live_dir(world.settings.certs_dir, NAME)) == before


def test_a_deploy_in_progress_holds_off_the_certificate(world, acme):
    from platform_deploy.state.lock import DeployLock

    with DeployLock(world.settings, PROJECT, ENV):
        [outcome] = issue_all(world)
    assert outcome.result is run.Result.FAILED and "is locked by pid" in outcome.detail and not acme


# --- the ACME server's answers, as one line ------------------------------------------------------------

def test_acme_problems_read_as_one_line():
    from acme import messages

    limited = messages.Error(typ="urn:ietf:params:acme:error:rateLimited", detail="too many certificates (5)\n"
                             "already issued for this exact set of domains in the last 168h0m0s")
    assert client.problem_reason(limited) == (
        "rate limited by the ACME server: too many certificates (5) already issued for this exact set of domains in "
        "the last 168h0m0s; try again after the limit resets")
    refused = messages.Error(typ="urn:ietf:params:acme:error:rejectedIdentifier", detail="policy forbids x.local")
    assert client.problem_reason(refused) == "the ACME server refused: policy forbids x.local"


@pytest.mark.parametrize("text, reason", [
    ("HTTPSConnectionPool(host='127.0.0.1', port=1): Max retries exceeded with url: /dir (Caused by "
     "NewConnectionError(\"...: Failed to establish a new connection: [Errno 111] Connection refused\"))",
     "Connection refused"),
    ("HTTPSConnectionPool(host='acme.test', port=443): Max retries exceeded (Caused by NameResolutionError(\"...: "
     "Failed to resolve 'acme.test' ([Errno -2] Name or service not known)\"))", "Name or service not known"),
    ("... [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate",
     "its TLS certificate is not trusted (for a private or test ACME server, set PLATFORM_ACME_CA_BUNDLE)"),
])
def test_an_unreachable_acme_server_reads_as_one_line(text, reason):
    assert client.network_reason(OSError(text)) == reason


def test_a_missing_ca_bundle_is_named_before_any_request(world, tmp_path):
    settings = Settings(certs_dir=tmp_path, acme_directory="https://127.0.0.1:9/dir",
                        acme_ca_bundle=tmp_path / "no.pem")
    key = client.account_key(tmp_path / "key.pem", tmp_path)
    with pytest.raises(PlatformError, match=r"^setting acme_ca_bundle \(PLATFORM_ACME_CA_BUNDLE\): .*no.pem is not a "
                                            r"file$"):
        client.obtain(settings, ("shop.test",), key, None, None)


def test_a_bad_acme_setting_stops_before_anything_is_ordered(world, acme):
    bad = replace(world.settings, acme_directory="http://acme.test/dir")
    decisions = run.decide(bad, certfiles.wanted(world.registry), NOW, force=False, renew_only=False)
    with pytest.raises(ConfigError, match=r"^setting acme_directory \(PLATFORM_ACME_DIRECTORY\)"):
        run.run(world.engine, bad, world.registry, decisions)
    assert not acme and not world.engine.logged("exec_run")


# --- settings ----------------------------------------------------------------------------------------

def test_acme_settings_from_the_environment(tmp_path):
    settings = Settings.load(environ={"PLATFORM_ACME_DIRECTORY": "staging", "PLATFORM_ACME_CA_BUNDLE": str(tmp_path),
                                      "PLATFORM_CERTS_RENEW_DAYS": "20"})
    assert settings.acme_directory_url == "https://acme-staging-v02.api.letsencrypt.org/directory"
    assert settings.acme_ca_bundle == tmp_path and settings.certs_renew_days == 20.0
    assert Settings().acme_directory_url == "https://acme-v02.api.letsencrypt.org/directory"
    with pytest.raises(ConfigError, match=r"^setting acme_directory \(PLATFORM_ACME_DIRECTORY\): 'http://x' is "
                                          r"neither production, staging nor an https:// URL$"):
        Settings(acme_directory="http://x").acme_directory_url


# --- what the operator sees ----------------------------------------------------------------------------

def test_status_and_the_prometheus_gauge_show_the_expiry(world):
    put(world.settings, days_left=20)
    observed = certfiles.survey(world.settings.certs_dir, certfiles.wanted(world.registry), NOW, 30)
    table = report.render(observed, NOW).splitlines()
    assert table[0].split() == ["PROJECT/ENV", "CERTIFICATE", "STATE", "EXPIRES", "DAYS", "LEFT", "DETAIL"]
    assert table[1].split()[:3] == ["shop/production", "shop.test", "due"] and " 19 " in table[1]
    [shown] = __import__("json").loads(report.render(observed, NOW, as_json=True))
    assert shown["state"] == "due" and 19 * 86400 < shown["seconds_left"] <= 20 * 86400
    text = prometheus.render([], observed, NOW)
    assert "# TYPE platform_deploy_certificate_expiry_seconds gauge" in text
    assert (f'platform_deploy_certificate_expiry_seconds{{project="shop",environment="production",'
            f'certificate="shop.test"}} {int(observed[0].certificate.seconds_left(NOW))}') in text


def test_preflight_warns_but_passes_when_the_certificate_expires_within_14_days(world):
    project = world.registry.project(PROJECT)
    assert preflight.certificate_warnings(world.settings, project, ENV, NOW) == []
    put(world.settings, days_left=20)
    assert preflight.certificate_warnings(world.settings, project, ENV, NOW) == []
    put(world.settings, days_left=13)
    files.apply(world.settings, files.plan(world.settings, world.registry))   # as certs.issue does
    [warning] = preflight.certificate_warnings(world.settings, project, ENV, NOW)
    assert warning.startswith("warning: certificate shop.test expires ") and warning.endswith("run invoke certs.renew")
    check = preflight.check_nginx(world.settings, project, lambda: None, world.registry, ENV)
    assert check.ok and check.detail.endswith(warning)


# Every key systemd documents for these sections that the units use (systemd.unit(5), .service(5), .timer(5)).
UNIT_KEYS = {"Unit": {"Description", "After", "Wants"},
             "Service": {"Type", "WorkingDirectory", "Environment", "ExecStart"},
             "Timer": {"OnCalendar", "RandomizedDelaySec", "Persistent"},
             "Install": {"WantedBy"}}


def parse_unit(text: str) -> dict:
    """{section: [(key, value)]}, as systemd reads a unit file (keys may repeat); fails on anything else."""
    sections, current = {}, None
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, equals, value = line.partition("=")
        assert equals and current is not None and key in UNIT_KEYS[list(sections)[-1]], line
        current.append((key, value))
    return sections


def test_timer_units_are_valid_systemd_units(tmp_path):
    texts = timer.units(tmp_path / "venv bin" / "invoke", tmp_path / "repo",
                        {"PLATFORM_CERTS_DIR": "/srv/certs 100%", "PLATFORM_ROOT": "/srv/platform"})
    written = timer.write(tmp_path, texts)
    assert [p.name for p in written] == ["platform-deploy-certs-renew.service", "platform-deploy-certs-renew.timer"]
    service, timer_unit = (parse_unit(path.read_text()) for path in written)
    assert list(service) == ["Unit", "Service"] and list(timer_unit) == ["Unit", "Timer", "Install"]
    assert dict(service["Service"])["Type"] == "oneshot"
    assert dict(service["Service"])["ExecStart"] == f'"{tmp_path}/venv bin/invoke" certs.renew'
    assert dict(service["Service"])["WorkingDirectory"] == f"{tmp_path}/repo"
    assert [value for key, value in service["Service"] if key == "Environment"] == [
        '"PLATFORM_CERTS_DIR=/srv/certs 100%%"', '"PLATFORM_ROOT=/srv/platform"']
    assert dict(timer_unit["Timer"]) == {"OnCalendar": "*-*-* 03,15:17:00", "RandomizedDelaySec": "1h",
                                         "Persistent": "true"}
    assert dict(timer_unit["Install"]) == {"WantedBy": "timers.target"}
    with pytest.raises(PlatformError, match="not a directory"):
        timer.write(tmp_path / "missing", texts)
    with pytest.raises(PlatformError, match="cannot hold a newline"):
        timer.units(tmp_path / "invoke", tmp_path, {"PLATFORM_ROOT": "/a\nExecStart=/bin/evil"})


def test_the_sync_check_lets_the_configs_certs_issue_rewrote_differ_from_git(world):
    assert preflight.served_over_tls(world.settings, world.registry) == set()
    put(world.settings)
    assert preflight.served_over_tls(world.settings, world.registry) == {"platform/nginx/conf.d/shop.test.conf"}


# --- the tasks, as the operator runs them (no engine is reached: nothing is ordered) ------------------------

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(world, tmp_path):
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PLATFORM_")}
    env = dict(clean, PLATFORM_ROOT=str(world.settings.root), PLATFORM_CERTS_DIR=str(world.settings.certs_dir),
               PLATFORM_DEPLOYMENTS_DIR=str(world.settings.deployments_dir), DOCKER_HOST="unix:///nonexistent")

    def invoke(*args, **settings):
        return subprocess.run([str(REPO / ".venv" / "bin" / "invoke"), "--search-root", str(REPO), *args],
                              env={**env, **settings}, capture_output=True, text=True, timeout=60)
    return invoke


def test_the_certs_tasks_answer_in_lines_and_exit_codes(world, cli, tmp_path):
    shown = cli("certs.status")
    assert shown.returncode == 0 and "shop/production  shop.test    missing" in shown.stdout
    quiet = cli("certs.renew")   # nothing installed, so nothing due: silent, for cron
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    bad = cli("certs.issue", PLATFORM_ACME_DIRECTORY="http://acme.test/dir")
    assert (bad.returncode, bad.stdout) == (1, "")
    assert bad.stderr == ("error: setting acme_directory (PLATFORM_ACME_DIRECTORY): 'http://acme.test/dir' is "
                          "neither production, staging nor an https:// URL\n")
    unknown = cli("certs.issue", "--project", "nope")
    assert unknown.returncode == 1 and unknown.stderr.startswith("error: ") and "no project 'nope'" in unknown.stderr
    put(world.settings, days_left=60)
    valid = cli("certs.issue")
    assert valid.returncode == 0 and valid.stdout.startswith("shop/production shop.test: valid: until ")
    timer_dir = tmp_path / "units"
    timer_dir.mkdir()
    written = cli("certs.install-timer", "--directory", str(timer_dir),
                  PLATFORM_WEBHOOK_URL="https://hooks.test/T0/B0/s3cret")
    assert written.returncode == 0 and sorted(p.name for p in timer_dir.iterdir()) == [
        "platform-deploy-certs-renew.service", "platform-deploy-certs-renew.timer"]
    service = (timer_dir / "platform-deploy-certs-renew.service").read_text()
    assert f'Environment="PLATFORM_CERTS_DIR={world.settings.certs_dir}"' in service
    assert "s3cret" not in service   # the settings' variables only: a webhook URL holds a token
    assert written.stdout.endswith("systemctl enable --now platform-deploy-certs-renew.timer\n")
