"""Shared helpers and fixtures of the deploy integration tests (test_deploy*.py).

A test project is the demo project of examples/demo/projects.yml under a unique name
``d<hex>``: containers ``d<hex>-backend``/``d<hex>-frontend`` (live as ``<name>-<env>``),
domains ``d<hex>.test``/``staging.d<hex>.test``, its own database role and databases in the
session stack's PostgreSQL, images from the local registry (127.0.0.1:5000/demo-*). It is
added to the session stack's config/projects.yml, gets its env files and generated nginx
config, and is removed again afterwards: containers and networks labelled
platform.project=<name>, its nginx file, databases, role and the backup image tags its
deploys created. Nothing else (the dev platform, other projects) is touched.

Import the fixtures into a test module: ``from deploy_support import demo_images, projects``.
"""

import http.client
import re
import io
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from loadgen import Load

from platform_deploy.backup import catalog
from platform_deploy.deploy import restore as restoring
from platform_deploy.config import load_registry
from platform_deploy.deploy.pipeline import DeployFailed, Deployment, Options
from platform_deploy.engine.docker import DockerEngine
from platform_deploy.errors import PlatformError
from platform_deploy.nginx import live
from platform_deploy.report import ConsoleReport
from platform_deploy.state.lock import DeployLock

ENGINE = DockerEngine()   # the code under test is handed this engine

REPO = Path(__file__).resolve().parents[2]

REGISTRY = f"127.0.0.1:{os.environ.get('REGISTRY_PORT', '5000')}"
DEMO_PROJECTS = REPO / "examples" / "demo" / "projects.yml"
ENVIRONMENTS = ("production", "staging")
REVISIONS = {"v1": "0001", "v2": "0002", "v3": "0002",   # the Alembic head each demo tag needs
             "ignore-term": "0002", "drop-on-term": "0002"}
BASE_IMAGE = "platform-base:bookworm"   # every demo image is built FROM it, so it is local
# Notifications must stay local: a configured webhook would be contacted by every deploy.
OUTSIDE_VARS = ("SLACK_WEBHOOK_URL", "PLATFORM_WEBHOOK_URL", "GIT_SHA", "GITHUB_SHA", "DEPLOYED_BY")
_yml_lock = threading.Lock()


def run(argv, timeout=120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)


def wait_for(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def demo_images():
    """The local registry on 127.0.0.1:5000 with every demo tag pushed (about 1 s when cached)."""
    started = run([str(REPO / "bin" / "start-registry")], timeout=300)
    assert started.returncode == 0, f"bin/start-registry failed:\n{started.stdout}\n{started.stderr}"
    assert started.stdout.strip() == REGISTRY
    built = run([str(REPO / "bin" / "build-demo-images"), REGISTRY], timeout=1200)
    assert built.returncode == 0, f"bin/build-demo-images failed:\n{built.stdout}\n{built.stderr}"
    return REGISTRY


@dataclass
class Outcome:
    ok: bool
    entry: dict | None     # the manifest entry run() returned (success only)
    output: str            # the console report
    error: str | None      # the one-line error (DeployFailed's summary for a deploy)
    timed: list            # (time.monotonic(), line) of each report line, as it was printed


class TimedStream(io.StringIO):
    def __init__(self):
        super().__init__()
        self.timed = []

    def write(self, text):
        if text.strip():
            self.timed.append((time.monotonic(), text.rstrip("\n")))
        return super().write(text)


class DemoProject:
    """One throw-away project in the session stack, with helpers to deploy it and look at it."""

    def __init__(self, stack, name: str | None = None):
        self.stack = stack
        self.settings = stack.settings
        self.name = name or f"d{secrets.token_hex(4)}"
        self.password = secrets.token_hex(16)
        self.secret_key = secrets.token_hex(16)
        self.databases = {env: f"{self.name}_{env}" for env in ENVIRONMENTS}

    # -- set up and tear down ------------------------------------------------------------------

    def entry(self) -> dict:
        demo = yaml.safe_load(DEMO_PROJECTS.read_text(encoding="utf-8"))["projects"]["demo"]
        demo["domains"] = {"production": self.domain("production"), "staging": self.domain("staging")}
        for role, container in demo["containers"].items():
            container["name"] = f"{self.name}-{role}"
            container["image"] = f"{REGISTRY}/demo-{role}"
        demo["database"]["user"] = self.name
        demo["database"]["databases"] = dict(self.databases)
        return demo

    def add(self) -> None:
        self._edit_registry(lambda projects: projects.__setitem__(self.name, self.entry()))
        for env in ENVIRONMENTS:
            self.write_env(env)
        live.generate_and_reload(ENGINE, self.settings, self.registry(), only=self.name)

    def remove(self) -> list[str]:
        """Remove everything the project left; return what could not be removed (for a clear failure)."""
        problems = []
        listed = run(["docker", "ps", "-aq", "--filter", f"label=platform.project={self.name}"])
        if listed.stdout.split():
            run(["docker", "rm", "-f", *listed.stdout.split()])
        networks = run(["docker", "network", "ls", "-q", "--filter", f"label=platform.project={self.name}"])
        for network in networks.stdout.split():
            for service in (self.settings.nginx_container, self.settings.postgres_container):
                run(["docker", "network", "disconnect", "-f", network, service])
            removed = run(["docker", "network", "rm", network])
            if removed.returncode != 0:
                problems.append(f"network {network}: {removed.stderr.strip()}")
        for tag in self.backup_image_tags():
            run(["docker", "image", "rm", "--no-prune", tag])
        for database in self.databases.values():
            self.psql("postgres", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        self.psql("postgres", f'DROP ROLE IF EXISTS "{self.name}"')
        try:
            self._edit_registry(lambda projects: projects.pop(self.name, None))
            live.generate_and_reload(ENGINE, self.settings, self.registry())
        except Exception as error:  # noqa: BLE001 - report, keep cleaning
            problems.append(f"nginx config: {error}")
        return problems

    def _edit_registry(self, change) -> None:
        path = self.settings.projects_file
        with _yml_lock:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            data.setdefault("projects", {})
            change(data["projects"])
            path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    def registry(self):
        return load_registry(self.settings.projects_file)

    def env_path(self, env: str) -> Path:
        return self.settings.root / "config" / self.name / f".env.{env}"

    def write_env(self, env: str, omit=()) -> None:
        values = {
            "DATABASE_URL": f"postgresql://{self.name}:{self.password}@{self.settings.postgres_container}"
                            f":5432/{self.databases[env]}",
            "SECRET_KEY": self.secret_key,
        }
        path = self.env_path(env)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items() if k not in omit), encoding="utf-8")

    # -- deploying -----------------------------------------------------------------------------

    def deploy(self, tag: str, env: str = "production", **options) -> Outcome:
        """One real deploy through the pipeline, in this process."""
        return self._outcome(f"deploy {self.name}/{env} {tag} {options or ''}", lambda report: Deployment(
            ENGINE, self.settings, self.registry(), self.name, env, Options(tag=tag, **options), report).run())

    def restore(self, backup: str | None = None, env: str = "production", with_database: bool = False) -> Outcome:
        """`invoke backup.restore` in this process: the newest backup when ``backup`` is None."""
        return self._outcome(f"restore {self.name}/{env} {backup or 'newest'}", lambda report: restoring.restore(
            ENGINE, self.settings, self.registry(), self.name, env, backup, with_database, report), failure=PlatformError)

    @staticmethod
    def _outcome(title: str, action, failure=DeployFailed) -> Outcome:
        """Run ``action(report)``; ``failure`` becomes an Outcome, any other error (a lock refusal) is raised."""
        out = TimedStream()
        try:
            entry = action(ConsoleReport(out)).to_json()
        except failure as error:
            outcome = Outcome(False, None, out.getvalue(), str(error), out.timed)
        else:
            outcome = Outcome(True, entry, out.getvalue(), None, out.timed)
        print(f"--- {title}\n{outcome.output}")
        return outcome

    def recover(self, *args: str) -> str:
        """`invoke deploy.recover` for production; its output (fails the test unless it exits 0)."""
        result = self.invoke("deploy.recover", "--project", self.name, "--env", "production", *args)
        print(result.stdout, result.stderr)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def settled(self) -> str:
        """After cleanup: the version the manifest names serves whole, with its database revision, and no
        candidate or journal is left. Returns that version."""
        version = self.manifest()["current_deployment"]["version"]
        assert self.serving() == (version, version)
        assert self.revision() == REVISIONS[version]
        assert self.journal() is None
        containers = self.containers()
        assert sorted(containers) == [self.live_name("backend"), self.live_name("frontend")], containers
        return version

    def subprocess_env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in OUTSIDE_VARS}
        env.update(self.stack.env)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def shim(self, env: str, *args: str, **popen) -> subprocess.Popen:
        """``lib/deploy.sh <name> <env> ARGS`` with the stack's settings; stdout and stderr merged."""
        return subprocess.Popen([str(REPO / "lib" / "deploy.sh"), self.name, env, *args], cwd=REPO,
                                env=self.subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, **popen)

    def invoke_process(self, *args: str) -> subprocess.Popen:
        """``invoke ARGS`` started with the stack's settings (to be killed, say); stdout and stderr merged."""
        return subprocess.Popen([str(REPO / ".venv" / "bin" / "invoke"), "--search-root", str(REPO), *args], cwd=REPO,
                                env=self.subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def invoke(self, *args: str, timeout=180) -> subprocess.CompletedProcess:
        return run([str(REPO / ".venv" / "bin" / "invoke"), "--search-root", str(REPO), *args], cwd=REPO,
                   env=self.subprocess_env(), timeout=timeout)

    # -- looking -------------------------------------------------------------------------------

    @staticmethod
    def domain_for(name: str, env: str) -> str:
        return f"{name}.test" if env == "production" else f"staging.{name}.test"

    def domain(self, env: str) -> str:
        return self.domain_for(self.name, env)

    def request(self, path: str, env: str = "production", method: str = "GET", body=None):
        """(status, headers, text) of one request through the stack's nginx, as a user would send it."""
        connection = http.client.HTTPConnection("127.0.0.1", self.stack.http_port, timeout=10)
        headers = {"Host": self.domain(env)}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read().decode("utf-8", "replace")
        finally:
            connection.close()

    def serving(self, env: str = "production") -> tuple[str, str]:
        """(frontend version, backend version) as users see them through nginx; fails on anything but 200."""
        status, headers, _ = self.request("/", env)
        assert status == 200, f"GET / through nginx for {self.domain(env)}: {status}"
        api_status, _, body = self.request("/api/version", env)
        assert api_status == 200, f"GET /api/version through nginx for {self.domain(env)}: {api_status} {body}"
        return headers.get("X-App-Version"), json.loads(body)["version"]

    def serves(self, version: str, env: str = "production") -> bool:
        """Whether users get ``version`` from both containers now (for wait_for; never fails the test)."""
        try:
            return self.serving(env) == (version, version)
        except (AssertionError, OSError, ValueError):
            time.sleep(0.5)
            return False

    def live_name(self, role: str, env: str = "production") -> str:
        return f"{self.name}-{role}-{env}"

    def containers(self) -> dict[str, dict]:
        """{name: {"id", "status", "image", "env", "role"}} of every container labelled with this project."""
        listed = run(["docker", "ps", "-aq", "--filter", f"label=platform.project={self.name}"]).stdout.split()
        if not listed:
            return {}
        found = {}
        for item in json.loads(run(["docker", "inspect", *listed]).stdout or "[]"):
            labels = item["Config"]["Labels"] or {}
            found[item["Name"].lstrip("/")] = {
                "id": item["Id"], "status": item["State"]["Status"], "image": item["Config"]["Image"],
                "env": labels.get("platform.environment"), "role": labels.get("platform.role"),
                "networks": sorted(item["NetworkSettings"]["Networks"]),
            }
        return found

    def state_dir(self, env: str) -> Path:
        return Path(self.settings.deployments_dir) / self.name / env

    def manifest(self, env: str = "production") -> dict:
        """The manifest, parsed: json.loads fails the test when it is not valid JSON."""
        return json.loads((self.state_dir(env) / "manifest.json").read_text(encoding="utf-8"))

    def journal(self, env: str = "production") -> dict | None:
        try:
            return json.loads((self.state_dir(env) / "journal.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    def backups_dir(self, env: str) -> Path:
        return Path(self.settings.backups_dir) / self.name / env

    def backup_metas(self, env: str = "production") -> dict[str, dict]:
        directory = self.backups_dir(env)
        if not directory.is_dir():
            return {}
        return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.meta"))}

    def backup_image_tags(self) -> list[str]:
        return [image["image"] for env in ENVIRONMENTS for meta in self.backup_metas(env).values()
                for image in meta.get("images", {}).values()]

    def psql(self, database: str, sql: str) -> tuple[int, str]:
        result = run(["docker", "exec", self.settings.postgres_container, "psql", "-X", "-q", "-At", "-U",
                      "postgres", "-d", database, "-c", sql])
        return result.returncode, (result.stdout + result.stderr).strip()

    def revision(self, env: str = "production") -> str | None:
        """The project database's Alembic revision (None before the first migration)."""
        code, output = self.psql(self.databases[env], "SELECT version_num FROM alembic_version")
        if code != 0:
            assert "does not exist" in output, output
            return None
        return output or None


class VolumeProject(DemoProject):
    """The demo project with a data volume in the backend and a served volume in the frontend."""

    def entry(self) -> dict:
        entry = super().entry()
        entry["containers"]["backend"]["volumes"] = {f"{self.name}-data": "/data"}
        entry["containers"]["frontend"]["volumes"] = {f"{self.name}-files": "/usr/share/demo-frontend/files"}
        return entry

    def volume(self, which: str, env: str = "production") -> str:
        return f"{self.name}-{which}-{env}"

    def in_volume(self, which: str, script: str) -> str:
        """Run ``script`` (sh) in a throw-away container with the volume at /v; return its output."""
        result = run(["docker", "run", "--rm", "--network", "none", "--label", f"platform.project={self.name}",
                      "-v", f"{self.volume(which)}:/v", "--entrypoint", "sh", BASE_IMAGE, "-c", script], timeout=300)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def fingerprint(self, which: str) -> str:
        """Every entry of a volume: path, owner, mode, size, type, link target, and each file's SHA-256."""
        return self.in_volume(which, "cd /v && find . -printf '%p %U:%G %m %s %y %l\\n' | sort && "
                                     "find . -type f -print0 | sort -z | xargs -0 -r sha256sum")

    def rows(self) -> str:
        code, output = self.psql(self.databases["production"], "SELECT * FROM items ORDER BY id")
        assert code == 0, output
        return output

    def live_image_ids(self) -> dict:
        return {c["role"]: run(["docker", "inspect", "--format", "{{.Image}}", name]).stdout.strip()
                for name, c in self.containers().items() if "-next-" not in name}

    def backups(self, env: str = "production") -> list[str]:
        return [b.name for b in catalog.backups(self.settings, self.name, env)]

    def remove(self) -> list[str]:
        problems = super().remove()
        for which in ("data", "files"):
            for env in ("production", "staging"):
                run(["docker", "volume", "rm", "-f", self.volume(which, env)])
        shutil.rmtree(Path(self.settings.backups_dir) / self.name, ignore_errors=True)
        return problems


def no_candidates(project) -> bool:
    return not [name for name in project.containers() if "-next-" in name]


@contextmanager
def tiny_filesystem(size: str):
    """A tmpfs of ``size`` (e.g. "2m") mounted on a new directory, unmounted afterwards."""
    mount = Path(tempfile.mkdtemp(prefix="tiny-fs-"))
    mounted = run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mount)])
    if mounted.returncode != 0:
        mount.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount
    finally:
        run(["umount", str(mount)])
        mount.rmdir()


@contextmanager
def project_in(stack):
    """A DemoProject added to ``stack``; removed afterwards, also when the test failed."""
    project = DemoProject(stack)
    try:
        project.add()
        yield project
    finally:
        problems = project.remove()
        assert not problems, f"cleanup of {project.name} left: {problems}"


@contextmanager
def _project_maker(stack):
    """``make(kind=DemoProject)`` adds a new project to ``stack``; all are removed at the end."""
    with pytest.MonkeyPatch.context() as patch:
        for name in OUTSIDE_VARS:
            patch.delenv(name, raising=False)
        made = []

        def make(kind=DemoProject) -> DemoProject:
            project = kind(stack)
            made.append(project)
            project.add()
            return project

        yield make
        problems = []
        for project in made:
            problems += project.remove()
        assert not problems, f"cleanup left: {problems}"


@pytest.fixture
def projects(platform_stack, demo_images):
    """``projects(kind=DemoProject)`` makes a new project; removed when the test ends. Not later: every demo
    container runs its health check each second, and a module's worth of them slows the machine down."""
    with _project_maker(platform_stack) as make:
        yield make


@pytest.fixture(scope="module")
def module_projects(platform_stack, demo_images):
    """Like ``projects``, for module fixtures that share a project between tests; removed with the module."""
    with _project_maker(platform_stack) as make:
        yield make


class LineReader:
    """Collects a subprocess's output lines in a thread so a test can wait for a marker."""

    def __init__(self, process: subprocess.Popen):
        self.process = process
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def has(self, marker: str) -> bool:
        return any(marker in line for line in self.lines)

    def text(self) -> str:
        self._thread.join(timeout=5)
        return "\n".join(self.lines)


# -- load through nginx, and what a finished deploy must not leave ---------------------------------

RATE_PER_CLIENT = 20.0   # requests/s each; 6 clients share the 2 cores with the deploys


class RecordingLoad(Load):
    """Load that also keeps (time, method, path, outcome) of each failed request, to say when it failed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.failures = []
        self._failures_lock = threading.Lock()

    def _request(self, connection, method, path, body):
        outcome, version = super()._request(connection, method, path, body)
        if outcome != "ok":
            with self._failures_lock:
                self.failures.append((time.monotonic(), time.time(), method, path, outcome))
        return outcome, version


def explain(project, load, timeline) -> str:
    """Where the failed requests fell among the deploy steps, and what nginx logged."""
    lines = [f"{at - timeline[0][0]:7.2f}s {what}" for at, what in timeline]
    lines += [f"{at - timeline[0][0]:7.2f}s FAILED {method} {path}: {outcome}"
              for at, _, method, path, outcome in load.failures[:40]]
    # nginx's error lines from the seconds before each failed request (its log has 1 s resolution)
    failed_seconds = {time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(wall - back))
                      for _, wall, *_ in load.failures for back in range(0, 4)}
    logs = run(["docker", "logs", "--since", "10m", project.settings.nginx_container])
    errors = [line for line in (logs.stdout + logs.stderr).splitlines()
              if ("[error]" in line or "[warn]" in line) and line[:19] in failed_seconds]
    # access log lines of the failed requests: which upstream addresses nginx tried, and for how long
    answered_5xx = [line for line in logs.stdout.splitlines()
                    if f'"{project.domain("production")}"' in line and re.search(r'HTTP/1.1" 5\d\d ', line)]
    return "\n".join(sorted(lines, key=lambda line: float(line.split("s ", 1)[0])) + ["nginx:"] + errors[:60]
                     + answered_5xx[:20])


def load_on(project, max_seconds: float, tls=None) -> "RecordingLoad":
    """The load the zero-failure tests run: 4 keep-alive and 2 new-connection clients, GET and POST;
    over HTTPS on the stack's HTTPS port with ``tls`` (an ssl.SSLContext trusting the certificate's CA)."""
    port = project.stack.https_port if tls else project.stack.http_port
    return RecordingLoad(port, project.domain("production"), paths=("/", "/api/version"),
                         post_path="/api/items", keepalive_clients=4, fresh_clients=2,
                         rate_per_client=RATE_PER_CLIENT, max_seconds=max_seconds, tls=tls)


def leftovers(project) -> list[str]:
    """What a finished deploy must not leave: candidates, helpers, networks, journal, lock, temp files."""
    found = [f"container {name}" for name in project.containers()
             if name not in (project.live_name("backend"), project.live_name("frontend"))]
    networks = run(["docker", "network", "ls", "-q", "--filter", f"label=platform.project={project.name}"])
    if len(networks.stdout.split()) != 1:
        found.append(f"networks {networks.stdout.split()} (want only production's)")
    if project.journal() is not None:
        found.append("journal")
    try:
        with DeployLock(project.settings, project.name, "production"):
            pass
    except PlatformError as error:
        found.append(f"lock: {error}")
    for directory in (project.state_dir("production"), project.backups_dir("production")):
        found += [f"temp file {temp}" for temp in directory.rglob(".tmp-*")]
    found += [f"incomplete backup {orphan.name}"
              for orphan in catalog.orphans(project.settings, project.name, "production")]
    return found


@contextmanager
def no_request_fails(project, max_seconds: float = 240):
    """Load through nginx for the ``with`` block, which gets the timeline to note its moments in
    ([(time.monotonic(), what)]); at its end, not one request may have failed."""
    timeline = [(time.monotonic(), "load starts")]
    with load_on(project, max_seconds) as load:
        time.sleep(0.5)
        yield timeline
        time.sleep(0.5)
        cut_short = time.monotonic() >= load.deadline
    result = load.result
    print(f"load: {result.ok} answered, {result.failed} failed; p99 {result.percentile(0.99) * 1000:.0f} ms")
    assert result.failed == 0, f"{result.failed} failed requests: {dict(result.reasons)}\n" + \
        explain(project, load, timeline)
    assert not cut_short, f"the load stopped after {max_seconds} s, before the test did: raise max_seconds"
