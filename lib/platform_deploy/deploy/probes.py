"""Health and smoke checks of candidate containers, and the request through nginx after a switch.

HTTP requests run from inside platform-nginx (it has curl and joins every
project network), so application images need no curl and no published port.
"""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..errors import PlatformError
from ..textutil import one_line

POLL_SECONDS = 0.1   # a Docker inspect or a curl from nginx: cheap next to what is waited for
DEFAULT_SMOKE_PATHS = ("/health", "/")
OWN_HEALTHCHECK_SECONDS = 5   # how long a candidate's HEALTHCHECK command, run by us, may take


class CheckFailed(PlatformError):
    """A candidate container failed a health or smoke check."""


@dataclass(frozen=True)
class Response:
    status: int        # 0 when no HTTP response came back (refused, timeout)
    body_start: str


def http_get(engine, settings, url: str, host_header: str | None = None, resolve: str | None = None) -> Response:
    return http_get_many(engine, settings, [url], host_header, resolve)[0]


def http_get_many(engine, settings, urls: list[str], host_header: str | None = None,
                  resolve: str | None = None) -> list[Response]:
    """GET each URL, one after the other, in one curl run inside platform-nginx (the exec costs more than
    the requests). Each answer (or curl's error: --stderr -) is followed by a line with a random marker,
    its HTTP status and curl's exit code; a status counts only when the transfer ended well."""
    marker = f"--{uuid.uuid4().hex}--"
    argv = ["curl", "-sS", "-k", "--stderr", "-", "--max-time", "5", "-w", f"\n{marker}%{{http_code}} %{{exitcode}}\n"]
    if host_header:
        argv += ["-H", f"Host: {host_header}"]
    if resolve:
        argv += ["--resolve", resolve]
    for url in urls:
        argv += ["-o", "-", url]
    _, output = engine.exec_run(settings.nginx_container, argv, output_expected=True)
    parts = output.split(marker)   # body 1, then "status 1 exit 1\n" + body 2, ..., "status n exit n\n"
    if len(parts) != len(urls) + 1:
        return [Response(0, one_line(output, 120))] * len(urls)
    ends = [part.partition("\n") for part in parts[1:]]
    bodies = [parts[0]] + [rest for _, _, rest in ends[:-1]]
    responses = []
    for body, (line, _, _) in zip(bodies, ends):
        status, _, exit_code = line.partition(" ")
        ok = status.isdigit() and exit_code.strip() == "0"
        responses.append(Response(int(status) if ok else 0, one_line(body, 120)))
    return responses


def passing_healthchecks(engine, roles) -> frozenset[str]:
    """The candidates (by name) that are running and whose HEALTHCHECK, run now, passes."""
    def passes(role) -> bool:
        state = engine.inspect(role.new_name)
        return bool(state and state.running and state.health == "starting"
                    and _passes_own_healthcheck(engine, role.new_name, state))

    with ThreadPoolExecutor(max_workers=max(1, len(roles))) as pool:
        return frozenset(role.new_name for role, ok in zip(roles, pool.map(passes, roles)) if ok)


def wait_healthy(engine, settings, roles, passed_already: frozenset[str] = frozenset(),
                 awaiting=lambda text: None) -> dict:
    """Wait until every candidate is healthy; fail at once on unhealthy, exited or restarting.

    Returns {role: how it passed}. A container without a HEALTHCHECK passes when
    it is running and its port accepts a request; one in ``passed_already`` (its
    HEALTHCHECK passed during the migrations, which changed nothing) when it still runs.
    ``awaiting(text)`` hears, after each look, who is waited for: ``backend: starting, 4 s of 60``.
    """
    started = time.monotonic()
    pending = {role.role: role for role in roles}
    passed, own_run, seen = {}, set(), {}
    with ThreadPoolExecutor(max_workers=max(1, len(pending))) as pool:   # a verdict may run a command
        while pending:
            verdicts = pool.map(lambda role: _health_verdict(engine, settings, role, own_run, passed_already, seen),
                                pending.values())
            for (name, role), verdict in zip(list(pending.items()), list(verdicts)):
                if verdict:
                    passed[name] = verdict
                    del pending[name]
                elif time.monotonic() - started > role.health_timeout:
                    state = engine.inspect(role.new_name)
                    raise CheckFailed(f"{role.new_name} not healthy after {role.health_timeout}s (status "
                                      f"{state.status if state else 'gone'}, health {state.health if state else '-'})")
            if pending:
                waited = int(time.monotonic() - started)
                awaiting("; ".join(f"{name}: {seen.get(role.new_name, 'starting')}, {waited} s of {role.health_timeout}"
                                   for name, role in pending.items()))
                time.sleep(POLL_SECONDS)
    return passed


def _health_verdict(engine, settings, role, own_run: set, passed_already: frozenset[str], seen: dict) -> str | None:
    state = engine.inspect(role.new_name)
    if state is None:
        raise CheckFailed(f"{role.new_name} disappeared")
    seen[role.new_name] = state.health or state.status
    if state.status in ("exited", "dead", "restarting"):
        logs = engine.logs_tail(role.new_name, 3).replace("\n", " | ")
        raise CheckFailed(f"{role.new_name} {state.status} (exit code {state.exit_code}): {logs[:200]}")
    if state.health == "unhealthy":
        raise CheckFailed(f"{role.new_name} is unhealthy (Docker healthcheck)")
    if state.health == "healthy":
        return "healthy"
    if state.health == "starting" and state.running and role.new_name in passed_already:
        return "healthy (its HEALTHCHECK, run during the migrations)"
    if state.health == "starting" and state.running and role.new_name not in own_run:
        own_run.add(role.new_name)   # once: a failure leaves the verdict to Docker's own probes
        if _passes_own_healthcheck(engine, role.new_name, state):
            return "healthy (its HEALTHCHECK, run at once)"
    if state.health is None and state.status == "running":
        if http_get(engine, settings, f"http://{role.new_name}:{role.port}/").status:
            return f"running, port {role.port} answers"
    return None


def _passes_own_healthcheck(engine, name: str, state) -> bool:
    """Docker runs the first health probe only one interval after the start (1 s and more): the same
    command, run in the container now, passes or not just as that probe would. Anything but a pass
    (no shell in the image, say) leaves the verdict to Docker."""
    if not state.health_command:
        return False
    answer = []

    def run():
        try:
            answer.append(engine.exec_run(name, list(state.health_command)).exit_code == 0)
        except PlatformError:
            answer.append(False)

    probe = threading.Thread(target=run, daemon=True)   # a hung command must not hold up the deadline
    probe.start()
    probe.join(OWN_HEALTHCHECK_SECONDS)
    return bool(answer and answer[0])


def smoke_test(engine, settings, role) -> list[str]:
    """GET each smoke path on the candidate's own port; 2xx/3xx passes. Returns what passed."""
    base = f"http://{role.new_name}:{role.port}"
    if role.smoke_paths is None:
        health = http_get(engine, settings, base + "/health")
        paths = ("/health",) if health.status != 404 else ("/",)
    else:
        paths = role.smoke_paths
    passed = []
    for path, response in zip(paths, http_get_many(engine, settings, [base + path for path in paths])):
        if not 200 <= response.status < 400:
            status = response.status or "no response"
            raise CheckFailed(f"{role.new_name} GET {path}: {status} {response.body_start!r}")
        passed.append(f"{path} {response.status}")
    return passed


def through_nginx(engine, settings, domain: str, tls: bool, within: float = 0.0) -> Response:
    """Request / as a user would, through platform-nginx with the project's Host.

    ``within``: ask again for up to that many seconds while the answer is an error (nginx may
    still hold a DNS answer from before the switch).
    """
    deadline = time.monotonic() + within
    while True:
        if tls:
            response = http_get(engine, settings, f"https://{domain}/", resolve=f"{domain}:443:127.0.0.1")
        else:
            response = http_get(engine, settings, "http://127.0.0.1/", host_header=domain)
        if served(response) or time.monotonic() >= deadline:
            return response
        time.sleep(POLL_SECONDS)


def served(response: Response) -> bool:
    return 0 < response.status < 500
