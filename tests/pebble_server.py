"""A real ACME server on loopback for tests: Debian's pebble, with pebble-challtestsrv as its DNS.

Everything listens on 127.0.0.1 on free ports. challtestsrv answers every name with 127.0.0.1 (``point``
maps one elsewhere), so pebble's HTTP-01 validation connects to 127.0.0.1:<http_port>, the port the caller
says serves /.well-known/acme-challenge/. Pebble's listener gets a throw-away CA made here (``ca_bundle``),
trusted only by the client under test; the CA pebble issues from is new at every start (``roots_pem``).
"""

import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import certificates

START_SECONDS = 20


def available() -> bool:
    return bool(shutil.which("pebble") and shutil.which("pebble-challtestsrv"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Pebble:
    directory_url: str
    ca_bundle: Path          # verifies pebble's own listeners (ACME and management)
    management_url: str
    dns_management_url: str

    def roots_pem(self) -> bytes:
        """The root pebble issues from (new at each start), from its management API."""
        return self._get(f"{self.management_url}/roots/0")

    def point(self, host: str, address: str) -> None:
        """Make ``host`` resolve to ``address`` for pebble's validation (127.0.0.2: nothing listens)."""
        body = json.dumps({"host": host, "addresses": [address]}).encode()
        urllib.request.urlopen(urllib.request.Request(f"{self.dns_management_url}/add-a", data=body), timeout=5)

    def _get(self, url: str) -> bytes:
        context = ssl.create_default_context(cafile=str(self.ca_bundle))
        with urllib.request.urlopen(url, context=context, timeout=5) as response:
            return response.read()


def _listener_tls(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and, signed by it, a certificate for 127.0.0.1 and localhost: (ca, cert, key) files."""
    paths = directory / "listener-ca.pem", directory / "listener.pem", directory / "listener.key"
    for path, data in zip(paths, certificates.authority_and_leaf(["localhost"], 2, addresses=["127.0.0.1"])):
        path.write_bytes(data)
    return paths


def _wait_ready(processes, url: str, ca: Path) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + START_SECONDS
    while True:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, context=context, timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextlib.contextmanager
def running(directory: Path, http_port: int):
    """pebble and challtestsrv for the duration of the block; validation goes to 127.0.0.1:``http_port``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, cert, key = _listener_tls(directory)
    acme_port, management_port, dns_port, dns_management_port = (free_port() for _ in range(4))
    config = directory / "pebble-config.json"
    config.write_text(json.dumps({"pebble": {
        "listenAddress": f"127.0.0.1:{acme_port}", "managementListenAddress": f"127.0.0.1:{management_port}",
        "certificate": str(cert), "privateKey": str(key), "httpPort": http_port, "tlsPort": free_port(),
        "ocspResponderURL": "", "externalAccountBindingRequired": False}}))
    environment = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}
    log = open(directory / "pebble.log", "wb")
    processes = [
        subprocess.Popen(["pebble-challtestsrv", "-dns01", f"127.0.0.1:{dns_port}", "-http01", "", "-https01", "",
                          "-tlsalpn01", "", "-management", f"127.0.0.1:{dns_management_port}",
                          "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""], stdout=log, stderr=log),
        subprocess.Popen(["pebble", "-config", str(config), "-dnsserver", f"127.0.0.1:{dns_port}"],
                         stdout=log, stderr=log, env=environment),
    ]
    try:
        server = Pebble(f"https://127.0.0.1:{acme_port}/dir", ca, f"https://127.0.0.1:{management_port}",
                        f"http://127.0.0.1:{dns_management_port}")
        _wait_ready(processes, server.directory_url, ca)
        yield server
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        log.close()
