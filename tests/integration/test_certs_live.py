"""Certificates from a real ACME server (pebble, on loopback) through the real platform-nginx: pebble's
HTTP-01 validation goes to the stack's published HTTP port, where nginx serves the webroot volume the
answers are written into; the result is checked as a user sees it, over HTTPS with SNI, verified against
pebble's root (trusted by these tests only). Then renewals, a failed challenge, and a deploy under HTTPS load.
"""

import json
import ssl
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from deploy_support import ENGINE, REPO, demo_images, explain, load_on, projects, run, wait_for  # noqa: F401
from loadgen import NamedHTTPSConnection

import certificates
import pebble_server
from platform_deploy import certfiles
from platform_deploy.certs import client, run as certs_run

pytestmark = pytest.mark.integration

MAX_SECONDS = 120   # the load stops by itself even if the deploy hangs


@pytest.fixture(scope="module")
def pebble(platform_stack, tmp_path_factory):
    if not pebble_server.available():
        pytest.fail("pebble is not installed: run bin/setup (it installs Debian's pebble package)")
    with pebble_server.running(tmp_path_factory.mktemp("pebble"), http_port=platform_stack.http_port) as server:
        yield server


@pytest.fixture(scope="module")
def trusted(pebble) -> ssl.SSLContext:
    """Trusts pebble's root, and nothing else."""
    return ssl.create_default_context(cadata=pebble.roots_pem().decode("ascii"))


def certs(project, pebble, *args: str, **settings: str):
    env = project.subprocess_env()
    env.update({"PLATFORM_ACME_DIRECTORY": pebble.directory_url, "PLATFORM_ACME_CA_BUNDLE": str(pebble.ca_bundle),
                **settings})
    return run([str(REPO / ".venv" / "bin" / "invoke"), "--search-root", str(REPO), *args], cwd=REPO, env=env,
               timeout=180)


def https_get(project, trusted, path: str = "/") -> tuple[int, dict, str]:
    """(status, headers, certificate serial) of GET ``path`` on the stack's HTTPS port, SNI = the domain."""
    connection = NamedHTTPSConnection("127.0.0.1", project.stack.https_port, server_name=project.domain("production"),
                                      context=trusted, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": project.domain("production")})
        response = connection.getresponse()
        serial = connection.sock.getpeercert()["serialNumber"]
        response.read()
        return response.status, dict(response.getheaders()), serial
    finally:
        connection.close()


def served(project, trusted, not_from=()) -> tuple | None:
    """https_get's answer once nginx serves a certificate other than ``not_from`` (serials), else None:
    `nginx -s reload` returns before the new workers take over."""
    try:
        answer = https_get(project, trusted)
    except (ssl.SSLError, OSError):
        return None
    return answer if answer[2] not in not_from else None


def conf(project) -> str:
    return (project.settings.conf_dir / f"{project.domain('production')}.conf").read_text()


def test_issue_serves_https_then_renews_only_when_due_or_forced(projects, pebble, trusted):  # noqa: F811 - the fixture
    project = projects()
    assert project.deploy("v1").ok
    domain = project.domain("production")
    issued = certs(project, pebble, "certs.issue", "--project", project.name, "--env", "production")
    assert issued.returncode == 0, issued.stderr
    assert issued.stdout.startswith(f"{project.name}/production {domain}: issued: no certificate; now valid until ")
    assert "listen 443 ssl" in conf(project)

    status, headers, first = wait_for(lambda: served(project, trusted), 15, what="HTTPS through platform-nginx")
    assert (status, headers.get("X-App-Version")) == (200, "v1")
    assert "Strict-Transport-Security" in headers
    status, headers, _ = project.request("/")
    assert (status, headers["Location"]) == (301, f"https://{domain}/")
    assert project.request("/.well-known/acme-challenge/missing")[0] == 404   # the webroot stays on HTTP

    quiet = certs(project, pebble, "certs.renew")   # nothing due: silent, exit 0, nothing ordered
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    assert https_get(project, trusted)[2] == first

    due = certs(project, pebble, "certs.renew", PLATFORM_CERTS_RENEW_DAYS="100000")   # every certificate is due
    assert due.returncode == 0, due.stderr
    assert f"{project.name}/production {domain}: issued: expires " in due.stdout
    second = wait_for(lambda: served(project, trusted, not_from=(first,)), 15, what="the renewed certificate")[2]

    forced = certs(project, pebble, "certs.renew", "--force")
    assert forced.returncode == 0 and f"{domain}: issued: forced; now valid until" in forced.stdout, forced.stderr
    wait_for(lambda: served(project, trusted, not_from=(first, second)), 15, what="the certificate renewed again")

    shown = certs(project, pebble, "certs.status", "--json")
    mine = {(c["environment"], c["state"]) for c in json.loads(shown.stdout) if c["project"] == project.name}
    assert mine == {("production", "valid"), ("staging", "missing")}
    live = certfiles.live_dir(project.settings.certs_dir, domain)
    assert len(list(live.resolve().parent.iterdir())) == 2, "the live version and the one before it are kept"

    metrics = certs(project, pebble, "status.metrics", "--prometheus", str(project.settings.root / "m.prom"))
    assert metrics.returncode == 0, metrics.stderr
    gauge = (f'platform_deploy_certificate_expiry_seconds{{project="{project.name}",environment="production",'
             f'certificate="{domain}"}} ')
    assert gauge in (project.settings.root / "m.prom").read_text()


def test_a_failed_challenge_or_an_unreachable_server_leaves_http_only_and_says_why_in_one_line(projects, pebble):  # noqa: F811 - the fixture
    project = projects()
    staging = project.domain("staging")
    pebble.point(staging, "127.0.0.2")   # "not pointing at this server": nothing listens there
    before = conf(project)
    failed = certs(project, pebble, "certs.issue", "--project", project.name, "--env", "staging")
    assert failed.returncode == 1 and failed.stdout == ""
    reason, summary = failed.stderr.strip().splitlines()
    assert reason.startswith(f"error: {project.name}/staging {staging}: failed: HTTP-01 challenge failed for "
                             f"{staging}: ") and "127.0.0.2" in reason
    assert summary == "1 of 1 certificate(s) failed; the others are unaffected"
    assert conf(project) == before and "listen 443" not in before
    assert not certfiles.live_dir(project.settings.certs_dir, staging).exists()
    assert project.request("/", "staging")[0] != 301   # still served over HTTP

    closed = f"https://127.0.0.1:{pebble_server.free_port()}/dir"
    unreachable = certs(project, pebble, "certs.issue", "--project", project.name, "--env", "production",
                        PLATFORM_ACME_DIRECTORY=closed)
    assert unreachable.returncode == 1
    assert unreachable.stderr.splitlines()[0].endswith(f"failed: ACME server {closed} unreachable: Connection refused")
    assert conf(project) == before


def test_nginx_rejecting_the_certificate_keeps_the_http_only_config_and_no_certificate(projects, monkeypatch):  # noqa: F811
    """A chain and key that parse and match, but that platform-nginx's OpenSSL refuses (a 1024-bit RSA key is
    below Debian's security level 2): nginx -t fails, the previous config comes back, no certificate is live."""
    project = projects()
    domain = project.domain("production")
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    monkeypatch.setattr(client, "obtain", lambda settings, domains, *args, **kwargs: client.Issued(
        *certificates.issue(list(domains), 90, leaf_key=weak)))
    before = conf(project)
    registry = project.registry()
    decisions = certs_run.decide(project.settings, certfiles.wanted(registry, project.name, "production"),
                                 certfiles.utc_now(), force=False, renew_only=False)
    [outcome] = certs_run.run(ENGINE, project.settings, registry, decisions)
    assert outcome.result is certs_run.Result.FAILED
    assert outcome.detail.startswith("nginx rejected the configuration: ") and "\n" not in outcome.detail
    assert "previous files restored, running config untouched; the new certificate is not in use" in outcome.detail
    assert conf(project) == before and "listen 443" not in before
    assert not certfiles.live_dir(project.settings.certs_dir, domain).exists()
    status, _, _ = project.request("/.well-known/acme-challenge/missing")
    assert status == 404, "nginx still runs the previous config"


def test_a_deploy_under_https_load_after_the_switch_to_tls_fails_no_request(projects, pebble, trusted):  # noqa: F811 - the fixture
    project = projects()
    assert project.deploy("v1").ok
    issued = certs(project, pebble, "certs.issue", "--project", project.name, "--env", "production")
    assert issued.returncode == 0, issued.stderr
    wait_for(lambda: served(project, trusted), 15, what="HTTPS through platform-nginx")
    timeline = [(time.monotonic(), "load starts")]
    with load_on(project, MAX_SECONDS, tls=trusted) as load:
        time.sleep(1)
        timeline.append((time.monotonic(), "deploy v2 starts"))
        outcome = project.deploy("v2")
        timeline += [(at, f"  {line}") for at, line in outcome.timed if line.startswith("[")]
        time.sleep(1)
        cut_short = time.monotonic() >= load.deadline
    result = load.result
    print(f"HTTPS load: {result.ok} answered, {result.failed} failed; versions {dict(result.versions)}; "
          f"p99 {result.percentile(0.99) * 1000:.0f} ms")
    assert outcome.ok, outcome.error
    assert not cut_short, "the deploy outlasted the load"
    assert result.failed == 0, f"{result.failed} failed requests: {dict(result.reasons)}\n" + \
        explain(project, load, timeline)
    assert result.ok > 200 and {"v1", "v2"} <= set(result.versions), result.versions
    # The post-switch check (curl inside platform-nginx, from 127.0.0.1) went over HTTPS: over HTTP it would
    # have got the redirect to HTTPS (a 301, which it would count as served).
    logs = run(["docker", "logs", "--since", "5m", project.settings.nginx_container])
    checks = [line for line in logs.stdout.splitlines()
              if line.startswith("127.0.0.1 ") and f'"{project.domain("production")}" "GET / ' in line]
    assert checks and '" 200 ' in checks[-1], checks[-3:]
    status, headers, _ = https_get(project, trusted)
    assert (status, headers.get("X-App-Version")) == (200, "v2")

