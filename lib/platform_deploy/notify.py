"""Deploy notifications: a JSON-lines log, plus Slack and a generic webhook when configured.

A notification that fails never fails a deploy: each failure becomes one warning
line on stderr. Webhook URLs are secrets (Slack's carry the token in the path),
so only their scheme://host is ever shown.
"""

import contextlib
import http.client
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

from .redact import SECRET_NAME, Scrubber
from .textutil import one_line, utc_timestamp

EVENTS = ("start", "success", "failure", "rollback")
SUMMARIES = {"start": "deploy started", "success": "deploy succeeded",
             "failure": "deploy failed", "rollback": "deploy rolled back"}
LOG_NAME = "notifications.log"
TIMEOUT = 5
MAX_SUMMARY_VALUE = 200
_SCRUB = Scrubber()


def notify(settings, event: str, project: str, environment: str, **fields) -> None:
    """Record ``event`` in deployments_dir/notifications.log and send it to the configured webhooks."""
    if event not in EVENTS:
        raise ValueError(f"unknown notification event {event!r}; known: {', '.join(EVENTS)}")
    record = {**_scrub(fields), "event": event, "project": project, "environment": environment,
              "timestamp": utc_timestamp()}
    _append_log(settings.deployments_dir / LOG_NAME, record)
    slack = os.environ.get("SLACK_WEBHOOK_URL")
    if slack:
        _post(slack, {"text": summary(record)})
    generic = os.environ.get("PLATFORM_WEBHOOK_URL")
    if generic:
        _post(generic, record)


def summary(record: dict) -> str:
    """One line for chat, e.g. ``filter-ical production: deploy failed (error=..., version=1.4)``."""
    head = f"{record['project']} {record['environment']}: {SUMMARIES[record['event']]}"
    core = {"event", "project", "environment", "timestamp"}
    details = [f"{name}={_short(value)}" for name, value in sorted(record.items())
               if name not in core and isinstance(value, (str, int, float, bool))]
    return f"{head} ({', '.join(details)})" if details else head


def _short(value) -> str:
    text = one_line(value)
    return text if len(text) <= MAX_SUMMARY_VALUE else text[: MAX_SUMMARY_VALUE - 3] + "..."


def _scrub(value):
    """Drop fields named like secrets (at any depth); hide URL credentials and key=value secrets, strip control
    characters (the deploy has already removed its env files' values); make it JSON-able."""
    if isinstance(value, dict):
        return {str(name): _scrub(item) for name, item in value.items() if not SECRET_NAME.search(str(name))}
    if isinstance(value, (list, tuple)):
        return [_scrub(item) for item in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return _SCRUB(str(value))


def _append_log(path, record: dict) -> None:
    line = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_mode & 0o077:
                # An older, looser file: tighten it if we own it, keep logging either way.
                with contextlib.suppress(OSError):
                    os.fchmod(fd, 0o600)
            os.write(fd, line)  # one write: concurrent deploys append whole lines
        finally:
            os.close(fd)
    except OSError as error:
        _warn(str(path), error.strerror or str(error))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is misconfigured; never follow it to another address."""

    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _post(url: str, payload: dict) -> None:
    where = _scheme_and_host(url)
    if where is None:
        _warn("a webhook", "its URL is not an http(s) URL")
        return
    request = urllib.request.Request(url, data=json.dumps(payload, sort_keys=True).encode("utf-8"),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with _OPENER.open(request, timeout=TIMEOUT) as response:
            response.read()
    except urllib.error.HTTPError as error:
        _warn(where, f"HTTP {error.code} {error.reason}")
    except urllib.error.URLError as error:
        _warn(where, _reason(error.reason, url, where))
    except (OSError, ValueError, http.client.HTTPException) as error:
        _warn(where, _reason(error, url, where))


def _scheme_and_host(url: str) -> str | None:
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def _reason(error, url: str, where: str) -> str:
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return _short(text.replace(url, where))


def _warn(target: str, reason: str) -> None:
    print(f"warning: notification to {target} failed: {reason}", file=sys.stderr)
