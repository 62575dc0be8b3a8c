"""The ACME client against a real ACME server (pebble) on loopback, without Docker: a small HTTP server of
the test's own answers the HTTP-01 challenges. What platform-nginx adds is in test_certs_live.py."""

import functools
import http.server
import threading
from dataclasses import replace
from pathlib import Path

import pytest

import pebble_server
from platform_deploy.certs import client, install
from platform_deploy.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def webroot(tmp_path_factory):
    """(directory, port): a loopback HTTP server serving the directory, as platform-nginx serves its webroot."""
    root = tmp_path_factory.mktemp("webroot")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, server.server_address[1]
    server.shutdown()
    thread.join(timeout=5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def pebble(tmp_path_factory, webroot):
    if not pebble_server.available():
        pytest.fail("pebble is not installed: run bin/setup (it installs Debian's pebble package)")
    with pebble_server.running(tmp_path_factory.mktemp("pebble"), http_port=webroot[1]) as server:
        yield server


@pytest.fixture
def settings(tmp_path, pebble) -> Settings:
    return Settings(root=tmp_path, certs_dir=tmp_path / "certs", acme_directory=pebble.directory_url,
                    acme_ca_bundle=pebble.ca_bundle, acme_email="ops@example.test")


def obtain(settings, webroot, domains):
    directory = Path(webroot[0]) / ".well-known" / "acme-challenge"
    directory.mkdir(parents=True, exist_ok=True)
    published = []

    def publish(token, text):
        (directory / token).write_text(text)
        published.append(token)
    key = client.account_key(settings.certs_dir / "account-key.pem", settings.certs_dir)
    issued = client.obtain(settings, domains, key, publish, lambda token: (directory / token).unlink())
    assert published and not any(directory.iterdir()), "every answer withdrawn"
    return issued


def test_a_certificate_for_every_domain_with_a_key_that_matches(settings, webroot):
    issued = obtain(settings, webroot, ("shop.test", "www.shop.test"))
    install.check_pair(issued.fullchain_pem, issued.key_pem)
    from cryptography import x509
    from platform_deploy.certfiles import leaf_domains

    chain = x509.load_pem_x509_certificates(issued.fullchain_pem)
    assert len(chain) >= 2, "leaf and intermediate: nginx serves the whole chain"
    assert sorted(leaf_domains(chain[0])) == ["shop.test", "www.shop.test"]
    again = obtain(settings, webroot, ("shop.test",))   # the same account key: its account is found again
    assert again.fullchain_pem != issued.fullchain_pem


def test_a_domain_pointing_elsewhere_fails_in_one_line(settings, webroot, pebble):
    pebble.point("elsewhere.test", "127.0.0.2")   # nothing listens there
    with pytest.raises(client.AcmeFailed) as failed:
        obtain(settings, webroot, ("elsewhere.test",))
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("HTTP-01 challenge failed for elsewhere.test: ")
    assert "127.0.0.2" in message and message.endswith("(does the domain point at this server, and does "
                                                       "platform-nginx answer on port 80?)")


def test_an_unreachable_acme_server_fails_in_one_line(settings, webroot):
    closed = replace(settings, acme_directory=f"https://127.0.0.1:{pebble_server.free_port()}/dir")
    with pytest.raises(client.AcmeFailed, match=r"^ACME server https://127\.0\.0\.1:\d+/dir unreachable: "
                                                r"Connection refused$"):
        obtain(closed, webroot, ("shop.test",))


def test_an_acme_server_whose_ca_is_not_given_is_not_trusted(settings, webroot):
    """Pebble's CA is trusted only through acme_ca_bundle, never system-wide."""
    with pytest.raises(client.AcmeFailed, match="its TLS certificate is not trusted .*PLATFORM_ACME_CA_BUNDLE"):
        obtain(replace(settings, acme_ca_bundle=None), webroot, ("shop.test",))
