"""The demo images (examples/demo) and the local registry, run for real.

Builds and pushes through bin/start-registry and bin/build-demo-images (about 1 s when
cached), then runs the images against a throwaway PostgreSQL on a throwaway network.
Everything started here carries the label platform-deploy.test=<run id> and is removed
at the end, even on failure. Only 127.0.0.1 and the test's own containers are contacted.
"""

import http.client
import json
import os
import secrets
import subprocess
import time
from pathlib import Path

import docker
import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PORT = int(os.environ.get("REGISTRY_PORT", "5000"))
REGISTRY = f"127.0.0.1:{PORT}"
TAGS = ("v1", "v2", "v3", "broken-health", "broken-smoke", "crash", "broken-migration", "ignore-term",
        "drop-on-term")
RUN_ID = secrets.token_hex(4)
LABELS = {"platform-deploy.test": f"demo-images-{RUN_ID}"}
DB_HOST = "postgres-platform"  # an alias on the test's own network only
DB_PASSWORD = secrets.token_hex(12)

# Starts PostgreSQL as the postgres user in any Debian-style image that has it
# (platform-postgres:local or platform-base:bookworm), whatever its entrypoint.
POSTGRES_BOOT = """set -eu
for dir in /usr/lib/postgresql/*/bin; do PATH="$dir:$PATH"; done
mkdir -p /tmp/pgdata && chown postgres:postgres /tmp/pgdata
run() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
run initdb -D /tmp/pgdata -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
echo "host all all 0.0.0.0/0 scram-sha-256" >> /tmp/pgdata/pg_hba.conf
exec setpriv --reuid=postgres --regid=postgres --init-groups \
    postgres -D /tmp/pgdata -c listen_addresses='*' -c unix_socket_directories=/tmp -c fsync=off
"""
PSQL = 'for d in /usr/lib/postgresql/*/bin; do PATH="$d:$PATH"; done; ' \
       'exec psql -h /tmp -U postgres -v ON_ERROR_STOP=1 -At -d "$1" -c "$2"'


def image(name: str, tag: str) -> str:
    return f"{REGISTRY}/{name}:{tag}"


def script(*args: str) -> str:
    result = subprocess.run([str(REPO / "bin" / args[0]), *args[1:]], cwd=REPO, capture_output=True,
                            text=True, timeout=900, env={**os.environ, "REGISTRY_PORT": str(PORT)})
    assert result.returncode == 0, f"bin/{args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def request(port: int, method: str, path: str, body=None, connection=None):
    """One HTTP request to 127.0.0.1:port; returns (status, headers, parsed JSON or text)."""
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
    response = conn.getresponse()
    raw = response.read()
    if connection is None:
        conn.close()
    is_json = response.getheader("Content-Type", "").startswith("application/json")
    return response.status, response, json.loads(raw) if is_json else raw.decode()


@pytest.fixture(scope="module")
def client():
    try:
        api = docker.from_env(timeout=120)
        api.ping()
    except docker.errors.DockerException as error:
        pytest.fail(f"no Docker engine answers ({error}); run bin/start-docker")
    yield api
    for container in api.containers.list(all=True, filters={"label": f"platform-deploy.test={LABELS['platform-deploy.test']}"}):
        container.remove(force=True, v=True)
    for network in api.networks.list(filters={"label": f"platform-deploy.test={LABELS['platform-deploy.test']}"}):
        network.remove()
    api.close()


@pytest.fixture(scope="module")
def images(client):
    assert script("start-registry").strip() == REGISTRY
    output = script("build-demo-images", REGISTRY)
    assert f"pushed {2 * len(TAGS)} images" in output
    return REGISTRY


@pytest.fixture
def started(client):
    """start(image, ...) runs a labelled, detached container; all are removed afterwards."""
    containers = []

    def start(name, **options):
        options.setdefault("labels", LABELS)
        container = client.containers.run(name, detach=True, **options)
        containers.append(container)
        return container

    yield start
    for container in containers:
        try:
            container.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass


@pytest.fixture(scope="module")
def network(client):
    net = client.networks.create(f"demo-images-test-{RUN_ID}", driver="bridge", labels=LABELS)
    yield net
    net.remove()


@pytest.fixture(scope="module")
def postgres(client, network, images):
    """A throwaway PostgreSQL reachable as postgres-platform:5432 on the test network."""
    base = "platform-postgres:local" if client.images.list(name="platform-postgres:local") else "platform-base:bookworm"
    container = client.containers.create(base, entrypoint=["/bin/sh", "-c"], command=[POSTGRES_BOOT], user="root",
                                         name=f"demo-images-pg-{RUN_ID}", labels=LABELS, network=network.name)
    try:
        network.disconnect(container)
        network.connect(container, aliases=[DB_HOST])
        container.start()
        deadline = time.monotonic() + 30
        while psql(container, "postgres", "SELECT 1")[0] != 0:
            container.reload()
            assert container.status == "running", f"PostgreSQL ({base}) exited:\n{container.logs().decode()}"
            assert time.monotonic() < deadline, f"PostgreSQL ({base}) not ready in 30 s:\n{container.logs().decode()}"
            time.sleep(0.3)
        assert psql(container, "postgres", f"CREATE ROLE demo LOGIN PASSWORD '{DB_PASSWORD}'")[0] == 0
        yield container
    finally:
        container.remove(force=True, v=True)


def psql(container, database: str, sql: str):
    code, output = container.exec_run(["sh", "-c", PSQL, "sh", database, sql])
    return code, output.decode().strip()


@pytest.fixture
def database_url(postgres):
    """A fresh database owned by demo; its postgresql:// URL as the containers see it."""
    name = f"demo_{secrets.token_hex(4)}"
    code, output = psql(postgres, "postgres", f"CREATE DATABASE {name} OWNER demo")
    assert code == 0, output
    yield f"postgresql://demo:{DB_PASSWORD}@{DB_HOST}:5432/{name}"
    psql(postgres, "postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def alembic(client, network, tag, url, *args):
    """Run `alembic ARGS` in a one-shot backend container; return (exit code, output)."""
    container = client.containers.run(image("demo-backend", tag), ["alembic", *args], detach=True, labels=LABELS,
                                      network=network.name, environment={"DATABASE_URL": url})
    try:
        code = container.wait(timeout=60)["StatusCode"]
        return code, container.logs().decode()
    finally:
        container.remove(force=True, v=True)


def revision(postgres, url):
    return psql(postgres, url.rsplit("/", 1)[1], "SELECT version_num FROM alembic_version")[1]


def columns(postgres, url):
    sql = "SELECT column_name FROM information_schema.columns WHERE table_name = 'items' ORDER BY ordinal_position"
    return psql(postgres, url.rsplit("/", 1)[1], sql)[1].split()


def wait_for_health(container, wanted: str, seconds: float) -> float:
    """Wait until Docker reports health `wanted`; return how long it took."""
    started = time.monotonic()
    while True:
        container.reload()
        status = container.attrs["State"].get("Health", {}).get("Status")
        if status == wanted:
            return time.monotonic() - started
        assert container.status != "exited", f"container exited:\n{container.logs().decode()}"
        assert time.monotonic() - started < seconds, f"health still {status!r} after {seconds} s:\n" \
                                                     f"{container.logs().decode()}"
        time.sleep(0.25)


def host_port(container, port: str) -> int:
    container.reload()
    return int(container.ports[port][0]["HostPort"])


def run_backend(started, network, tag, url):
    return started(image("demo-backend", tag), network=network.name, environment={"DATABASE_URL": url},
                   ports={"3000/tcp": ("127.0.0.1", None)})


def test_registry_serves_every_pushed_tag(client, images):
    for name in ("demo-backend", "demo-frontend"):
        status, _, body = request(PORT, "GET", f"/v2/{name}/tags/list")
        assert status == 200 and set(TAGS) <= set(body["tags"]), body
    local = client.images.get(image("demo-backend", "v2")).attrs["RepoDigests"]
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
    conn.request("HEAD", "/v2/demo-backend/manifests/v2",
                 headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    digest = conn.getresponse().getheader("Docker-Content-Digest")
    conn.close()
    assert f"{REGISTRY}/demo-backend@{digest}" in local


@pytest.mark.parametrize("name", ["demo-backend", "demo-frontend"])
def test_images_carry_version_and_add_little_to_the_base(client, images, name):
    base_steps = len(client.images.get("platform-base:bookworm").history())
    for tag in TAGS:
        built = client.images.get(image(name, tag))
        assert built.labels["org.opencontainers.image.version"] == tag
        assert built.attrs["Config"]["Healthcheck"]["Interval"] == 1_000_000_000
        history = built.history()
        added = sum(step["Size"] for step in history[: len(history) - base_steps])
        assert 0 < added < 100_000, f"{name}:{tag} adds {added} bytes to the base, expected only the app files"


def test_v1_backend_serves_api_with_keep_alive_and_stops_gracefully(client, network, postgres, database_url, started):
    code, output = alembic(client, network, "v1", database_url, "upgrade", "head")
    assert code == 0, output
    assert revision(postgres, database_url) == "0001"
    backend = run_backend(started, network, "v1", database_url)
    wait_for_health(backend, "healthy", 30)
    port = host_port(backend, "3000/tcp")

    status, response, body = request(port, "GET", "/health")
    assert (status, body, response.getheader("X-App-Version")) == (200, {"status": "ok", "version": "v1"}, "v1")
    assert request(port, "GET", "/api/version")[2] == {"version": "v1"}
    status, response, created = request(port, "POST", "/api/items", {"name": "first"})
    assert status == 201 and created["name"] == "first" and response.getheader("X-App-Version") == "v1"
    assert [item["name"] for item in request(port, "GET", "/api/items")[2]["items"]] == ["first"]
    status, response, body = request(port, "GET", "/nope")
    assert (status, body["error"], response.getheader("X-App-Version")) == (404, "not found", "v1")
    assert request(port, "POST", "/api/items", {"nom": "x"})[0] == 400

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    request(port, "GET", "/api/version", connection=conn)
    first_socket = conn.sock
    status, response, _ = request(port, "GET", "/api/items", connection=conn)
    assert status == 200 and response.version == 11 and conn.sock is first_socket, "keep-alive connection not reused"
    conn.close()

    began = time.monotonic()
    backend.stop(timeout=10)
    backend.reload()
    assert backend.attrs["State"]["ExitCode"] == 0 and time.monotonic() - began < 3
    logs = backend.logs().decode()
    assert "stopped" in logs and DB_PASSWORD not in logs and database_url not in logs


def test_backend_reports_database_failure_without_leaking_the_url(network, postgres, database_url, started):
    wrong = database_url.replace(DB_PASSWORD, "wrong-" + DB_PASSWORD[:6])
    backend = run_backend(started, network, "v1", wrong)
    port = host_port(backend, "3000/tcp")
    deadline = time.monotonic() + 15
    while True:
        try:
            if request(port, "GET", "/livez")[0] == 200:
                break
        except (ConnectionError, http.client.HTTPException):
            assert time.monotonic() < deadline, backend.logs().decode()
            time.sleep(0.2)
    status, _, body = request(port, "GET", "/health")
    assert status == 500 and body["error"] == "database unavailable"
    logs = backend.logs().decode()
    assert "OperationalError" in logs and wrong not in logs and "wrong-" not in logs


def test_frontend_serves_its_version_and_404s_unknown_paths(images, started):
    frontend = started(image("demo-frontend", "v2"), ports={"80/tcp": ("127.0.0.1", None)})
    wait_for_health(frontend, "healthy", 30)
    port = host_port(frontend, "80/tcp")
    status, response, page = request(port, "GET", "/")
    assert status == 200 and "Demo frontend <span id=\"frontend-version\">v2</span>" in page
    assert response.getheader("X-App-Version") == "v2"
    assert request(port, "GET", "/health")[2] == {"status": "ok", "version": "v2"}
    status, response, _ = request(port, "GET", "/some/spa/route")
    assert status == 404 and response.getheader("X-App-Version") == "v2"
    began = time.monotonic()
    frontend.stop(timeout=10)
    frontend.reload()
    assert frontend.attrs["State"]["ExitCode"] == 0 and time.monotonic() - began < 3


def test_broken_health_turns_unhealthy(network, postgres, database_url, started):
    backend = run_backend(started, network, "broken-health", database_url)
    took = wait_for_health(backend, "unhealthy", 30)  # start period 10 s + 3 failed probes
    assert took < 30
    status, response, body = request(host_port(backend, "3000/tcp"), "GET", "/health")
    assert status == 500 and response.getheader("X-App-Version") == "broken-health"


def test_broken_smoke_is_healthy_for_docker_but_fails_health_path(network, postgres, database_url, started):
    backend = run_backend(started, network, "broken-smoke", database_url)
    wait_for_health(backend, "healthy", 30)
    port = host_port(backend, "3000/tcp")
    assert request(port, "GET", "/health")[0] == 503
    assert request(port, "GET", "/api/version")[2] == {"version": "broken-smoke"}


def test_crash_exits_with_status_1(network, database_url, started):
    backend = run_backend(started, network, "crash", database_url)
    assert backend.wait(timeout=30)["StatusCode"] == 1
    assert "FAIL_MODE=crash" in backend.logs().decode()


@pytest.mark.parametrize("tag, stops_with", [("v2", 0), ("drop-on-term", 0), ("ignore-term", 137)])
def test_sigterm_behaviours(network, postgres, database_url, started, tag, stops_with):
    """v2 drains and exits 0; drop-on-term exits at once; ignore-term goes on until SIGKILL (137)."""
    backend = run_backend(started, network, tag, database_url)
    wait_for_health(backend, "healthy", 30)
    backend.stop(timeout=2)
    backend.reload()
    assert backend.attrs["State"]["ExitCode"] == stops_with


def test_v2_migration_upgrades_and_downgrades(client, network, postgres, database_url):
    assert alembic(client, network, "v1", database_url, "upgrade", "head")[0] == 0
    assert psql(postgres, database_url.rsplit("/", 1)[1], "INSERT INTO items (name) VALUES ('kept')")[0] == 0
    code, output = alembic(client, network, "v2", database_url, "upgrade", "head")
    assert code == 0, output
    assert revision(postgres, database_url) == "0002"
    assert columns(postgres, database_url) == ["id", "name", "created_at", "note"]

    code, output = alembic(client, network, "v2", database_url, "downgrade", "0001")
    assert code == 0, output
    assert revision(postgres, database_url) == "0001"
    assert columns(postgres, database_url) == ["id", "name", "created_at"]
    assert psql(postgres, database_url.rsplit("/", 1)[1], "SELECT name FROM items")[1] == "kept"

    assert alembic(client, network, "v2", database_url, "downgrade", "base")[0] == 0
    assert columns(postgres, database_url) == []


def test_broken_migration_fails_and_leaves_the_database_as_it_was(client, network, postgres, database_url):
    assert alembic(client, network, "v1", database_url, "upgrade", "head")[0] == 0
    code, output = alembic(client, network, "broken-migration", database_url, "upgrade", "head")
    assert code != 0, output
    assert "column_that_does_not_exist" in output and DB_PASSWORD not in output
    assert revision(postgres, database_url) == "0001"  # 0002 rolled back with the failing 0003
    assert columns(postgres, database_url) == ["id", "name", "created_at"]


def test_alembic_without_database_url_says_so(client, images, network):
    container = client.containers.run(image("demo-backend", "v1"), ["alembic", "current"], detach=True,
                                      labels=LABELS, network=network.name)
    try:
        assert container.wait(timeout=60)["StatusCode"] != 0
        assert "error: DATABASE_URL is not set" in container.logs().decode()
    finally:
        container.remove(force=True, v=True)
