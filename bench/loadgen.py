"""A bounded HTTP load generator for zero-downtime checks (loopback only).

Keep-alive clients reuse one connection; fresh clients open one per request.
Each client sends at a constant rate and measures latency from the time a
request was *due*, so a stall shows up as latency instead of hiding
(no coordinated omission). Every request that is not answered with a status
below 500 counts as failed, with its reason kept.
"""

import http.client
import ipaddress
import multiprocessing
import select
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


SERVER_CLOSED = frozenset({"ConnectionResetError", "RemoteDisconnected", "BrokenPipeError"})
ALLOWED_TARGETS = ("127.0.0.0/8", "10.123.0.0/24")   # loopback, the swarm lab's bridge


@dataclass
class LoadResult:
    ok: int = 0
    failed: int = 0
    reasons: Counter = field(default_factory=Counter)
    latencies: list = field(default_factory=list)     # (due time, seconds)
    failures: list = field(default_factory=list)      # (due time, reason)
    versions: Counter = field(default_factory=Counter)

    def percentile(self, fraction: float, since: float = 0.0, until: float = float("inf")) -> float:
        values = sorted(s for due, s in self.latencies if since <= due < until)
        if not values:
            return 0.0
        return values[min(len(values) - 1, int(fraction * len(values)))]


class Load:
    """Start with ``with Load(...) as load:``; the clients stop when the block ends or at ``max_seconds``."""

    def __init__(self, port: int, host_header: str, paths=("/", "/api/version"), keepalive_clients=4,
                 fresh_clients=2, rate_per_client=50.0, max_seconds=300.0, post_path=None, tls=None,
                 address="127.0.0.1"):
        """``tls``: an ssl.SSLContext to speak HTTPS (SNI: ``host_header``), verifying with its CAs.
        ``address``: loopback, or an edge node of the swarm lab (bin/start-swarm-lab), nothing else."""
        if not any(ipaddress.ip_address(address) in ipaddress.ip_network(allowed) for allowed in ALLOWED_TARGETS):
            raise ValueError(f"load goes to loopback or the swarm lab only, not {address}")
        self.address = (address, port)
        self.host_header = host_header
        self.tls = tls
        self.paths = paths
        self.post_path = post_path
        self.interval = 1.0 / rate_per_client
        self.deadline = time.monotonic() + max_seconds
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(True, i), daemon=True)
                         for i in range(keepalive_clients)]
        self._threads += [threading.Thread(target=self._client, args=(False, i), daemon=True)
                          for i in range(fresh_clients)]

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def _connect(self):
        if self.tls:
            return NamedHTTPSConnection(*self.address, server_name=self.host_header, context=self.tls, timeout=10)
        return http.client.HTTPConnection(*self.address, timeout=10)

    def _client(self, keepalive: bool, index: int):
        connection = self._connect() if keepalive else None
        due = time.monotonic()
        count = 0
        while not self._stop.is_set() and time.monotonic() < self.deadline:
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
            count += 1
            method, path, body = "GET", self.paths[count % len(self.paths)], None
            if self.post_path and count % 5 == 0:
                method, path, body = "POST", self.post_path, b'{"name": "load"}'
            if keepalive and _closed_while_idle(connection):
                connection.close()   # and http.client opens a new one for the request
            if not keepalive:
                connection = self._connect()
            reused = keepalive and connection.sock is not None
            outcome, version = self._request(connection, method, path, body)
            if reused and method == "GET" and outcome in SERVER_CLOSED:
                # nginx closed the kept-alive connection as the request went out (a reload): browsers and
                # urllib3 send an idempotent request again on a new connection (RFC 9112, 9.3.1).
                connection.close()
                outcome, version = self._request(connection, method, path, body)
            if not keepalive or outcome != "ok":
                connection.close()
                if keepalive:
                    connection = self._connect()
            with self._lock:
                self.result.latencies.append((due, time.monotonic() - due))
                if outcome == "ok":
                    self.result.ok += 1
                    if version:
                        self.result.versions[version] += 1
                else:
                    self.result.failed += 1
                    self.result.reasons[outcome] += 1
                    self.result.failures.append((due, outcome))
            due += self.interval
        if connection is not None:
            connection.close()

    def _request(self, connection, method, path, body):
        headers = {"Host": self.host_header}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as error:
            return type(error).__name__, None
        if response.status >= 500:
            return f"HTTP {response.status}", None
        return "ok", response.getheader("X-App-Version")


def _closed_while_idle(connection) -> bool:
    """Whether the server closed a kept-alive connection between two requests (nginx does so on a reload):
    readable while idle means end of file. Browsers and urllib3 look before they reuse one; a request sent
    on it would be lost without the server ever having seen it."""
    return connection.sock is not None and bool(select.select([connection.sock], [], [], 0)[0])


class NamedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a loopback address that sends, and verifies the certificate for, a domain name (SNI)."""

    def __init__(self, host, port, server_name: str, **kwargs):
        super().__init__(host, port, **kwargs)
        self.server_name = server_name

    def connect(self):
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.server_name)


class LoadProcess:
    """``Load`` run by a child process, for benchmarks that deploy in their own process: the deploy's Python
    work (same interpreter lock) must not delay the clients and show up as latency users would not see.
    ``result`` is there once the ``with`` block has ended; times are on the same monotonic clock."""

    def __init__(self, *args, **kwargs):
        context = multiprocessing.get_context("fork")
        self._stop, self._results = context.Event(), context.Queue()
        self._process = context.Process(target=_load_until, args=(args, kwargs, self._stop, self._results),
                                         daemon=True)
        self.result = None

    def __enter__(self):
        self._process.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.result = self._results.get(timeout=60)
        self._process.join(timeout=30)


def _load_until(args, kwargs, stop, results) -> None:
    with Load(*args, **kwargs) as load:
        stop.wait(timeout=max(0.0, load.deadline - time.monotonic()))
    results.put(load.result)
