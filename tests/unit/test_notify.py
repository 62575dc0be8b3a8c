"""Notifications: the local log, and webhooks served by a throwaway HTTP server on 127.0.0.1."""

import http.server
import json
import re
import socket
import stat
import threading

import pytest

from platform_deploy import notify as notify_module
from platform_deploy.notify import notify
from platform_deploy.settings import Settings

MARKER = "s3cr3t-MARKER-value"
SLACK_PATH = f"/services/T000/B000/{MARKER}"
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


class Recorder(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, self.headers["Content-Type"], body))
        status, location = self.server.reply
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    httpd.received, httpd.reply = [], (200, None)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def only_local_connections(monkeypatch):
    """No proxy, no webhook from the real environment, and a record of every address connected to."""
    for name in PROXY_VARIABLES + ("SLACK_WEBHOOK_URL", "PLATFORM_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    contacted = []
    real = socket.create_connection

    def recording(address, *args, **kwargs):
        contacted.append(address[0])
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", recording)
    yield contacted
    assert set(contacted) <= {"127.0.0.1"}


@pytest.fixture
def settings(tmp_path):
    return Settings(root=tmp_path / "platform", deployments_dir=tmp_path / "deployments",
                    backups_dir=tmp_path / "backups")


def url(server, path):
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def log_lines(settings):
    return (settings.deployments_dir / "notifications.log").read_text().splitlines()


SECRET_FIELDS = {"SECRET_KEY": MARKER, "admin_password": MARKER, "api_token": MARKER, "DATABASE_URL": MARKER,
                 "ssh_key": MARKER, "details": {"nested_secret": MARKER, "backup": "backup_20250106_120000"}}


def test_log_line_is_written_and_parseable(settings):
    notify(settings, "success", "filter-ical", "production", version="1.4", duration=42.5)
    notify(settings, "start", "filter-ical", "staging")
    lines = log_lines(settings)
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first == {"event": "success", "project": "filter-ical", "environment": "production",
                     "version": "1.4", "duration": 42.5, "timestamp": first["timestamp"]}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first["timestamp"])
    assert lines[0] == json.dumps(first, sort_keys=True)
    path = settings.deployments_dir / "notifications.log"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_existing_loose_log_is_tightened(settings):
    settings.deployments_dir.mkdir()
    path = settings.deployments_dir / "notifications.log"
    path.write_text("")
    path.chmod(0o644)
    notify(settings, "start", "demo", "production")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_secret_fields_are_dropped_everywhere(settings, server, monkeypatch):
    monkeypatch.setenv("SLACK_WEBHOOK_URL", url(server, SLACK_PATH))
    monkeypatch.setenv("PLATFORM_WEBHOOK_URL", url(server, "/hook"))
    notify(settings, "failure", "demo", "production", version="2.0",
           error=f"cannot connect to postgresql://app:{MARKER}@db:5432/demo", **SECRET_FIELDS)
    payloads = [body.decode() for _, _, body in server.received] + log_lines(settings)
    assert len(payloads) == 3
    for payload in payloads:
        assert MARKER not in payload
    record = json.loads(log_lines(settings)[0])
    assert record["details"] == {"backup": "backup_20250106_120000"}
    assert record["error"] == "cannot connect to postgresql://***@db:5432/demo"


def test_slack_and_generic_webhooks_receive_json(settings, server, monkeypatch):
    monkeypatch.setenv("SLACK_WEBHOOK_URL", url(server, SLACK_PATH))
    monkeypatch.setenv("PLATFORM_WEBHOOK_URL", url(server, "/hook"))
    notify(settings, "rollback", "demo", "production", version="2.0", error="health check\ntimed out")
    (slack_path, slack_type, slack_body), (hook_path, hook_type, hook_body) = server.received
    assert (slack_path, hook_path) == (SLACK_PATH, "/hook")
    assert slack_type == hook_type == "application/json"
    assert json.loads(slack_body) == {
        "text": "demo production: deploy rolled back (error=health check timed out, version=2.0)"}
    assert json.loads(hook_body) == json.loads(log_lines(settings)[0])


def test_without_webhook_variables_nothing_is_sent(settings, server, only_local_connections):
    notify(settings, "start", "demo", "production")
    assert server.received == [] and only_local_connections == []


def test_an_unreachable_webhook_only_warns(settings, monkeypatch, capsys):
    port = closed_port()
    monkeypatch.setenv("SLACK_WEBHOOK_URL", f"http://127.0.0.1:{port}{SLACK_PATH}")
    notify(settings, "failure", "demo", "production")
    warning = capsys.readouterr().err
    assert warning.startswith(f"warning: notification to http://127.0.0.1:{port} failed: ")
    assert warning.count("\n") == 1
    assert MARKER not in warning
    assert len(log_lines(settings)) == 1


def test_an_http_error_only_warns(settings, server, monkeypatch, capsys):
    server.reply = (500, None)
    monkeypatch.setenv("PLATFORM_WEBHOOK_URL", url(server, f"/hook/{MARKER}"))
    notify(settings, "success", "demo", "production")
    warning = capsys.readouterr().err
    assert warning == f"warning: notification to {url(server, '')} failed: HTTP 500 Internal Server Error\n"


def test_a_redirect_is_not_followed(settings, server, monkeypatch, capsys, only_local_connections):
    server.reply = (307, "http://192.0.2.1/elsewhere")
    monkeypatch.setenv("PLATFORM_WEBHOOK_URL", url(server, "/hook"))
    notify(settings, "success", "demo", "production")
    assert "failed: HTTP 307" in capsys.readouterr().err
    assert only_local_connections == ["127.0.0.1"]


@pytest.mark.parametrize("bad", ["file:///etc/passwd", "not a url", "http://"])
def test_a_non_http_webhook_url_only_warns(settings, monkeypatch, capsys, bad):
    monkeypatch.setenv("PLATFORM_WEBHOOK_URL", bad)
    notify(settings, "success", "demo", "production")
    assert capsys.readouterr().err == "warning: notification to a webhook failed: its URL is not an http(s) URL\n"


def test_a_log_that_cannot_be_written_only_warns(settings, server, monkeypatch, capsys):
    settings.deployments_dir.parent.mkdir(exist_ok=True)
    settings.deployments_dir.write_text("a file where the directory should be")
    monkeypatch.setenv("PLATFORM_WEBHOOK_URL", url(server, "/hook"))
    notify(settings, "failure", "demo", "production")
    assert capsys.readouterr().err.startswith(f"warning: notification to {settings.deployments_dir}")
    assert len(server.received) == 1


def test_unknown_events_are_a_programming_error(settings):
    with pytest.raises(ValueError, match="unknown notification event 'done'"):
        notify(settings, "done", "demo", "production")


def test_summary_without_fields_is_just_the_event():
    record = {"event": "start", "project": "demo", "environment": "staging", "timestamp": "2025-01-06T12:00:00Z"}
    assert notify_module.summary(record) == "demo staging: deploy started"
