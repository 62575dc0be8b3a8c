"""A platform root on disk and a FakeEngine around it, for unit tests of the deploy pipeline and recovery.

One project, ``shop``, production only: a backend (registry.test/app-backend, port 8000,
Alembic migrations, a volume) and a frontend, a PostgreSQL database, the generated nginx
config already in place (so the pre-flight passes), platform-nginx and postgres-platform
running. The registry holds v1, v2 and v3 of both images; backend vN migrates the
database to revision 000N.

Tests read the outcome from disk (the manifest and the journal, as JSON) and from the
fake's state and call log, not from the pipeline's internals.
"""

import io
import json
from pathlib import Path

import pytest
from fakes import FakeEngine, curl_urls

from platform_deploy.config import load_registry
from platform_deploy.deploy import pipeline, probes, recover, switch
from platform_deploy.nginx import files
from platform_deploy.report import ConsoleReport
from platform_deploy.settings import Settings

PROJECT, ENV = "shop", "production"
NETWORK = "shop-production"
BACKEND, FRONTEND = "shop-backend-production", "shop-frontend-production"
LIVE = (BACKEND, FRONTEND)
PORTS = {BACKEND: 8000, FRONTEND: 80}
BACKEND_REPO, FRONTEND_REPO = "registry.test/app-backend", "registry.test/app-frontend"
VOLUME = "shop-data-production"
NGINX, POSTGRES = "platform-nginx", "postgres-platform"

PROJECTS_YML = f"""\
projects:
  {PROJECT}:
    domains:
      production: shop.test
    containers:
      backend:
        name: shop-backend
        port: 8000
        image: {BACKEND_REPO}
        api_locations: /api
        volumes:
          shop-data: /app/data
      frontend:
        name: shop-frontend
        port: 80
        image: {FRONTEND_REPO}
    required_env: DATABASE_URL
    database:
      type: postgresql
      user: shop
      databases:
        production: shop
"""
ENV_FILE = "DATABASE_URL=postgresql://shop:s3cret-pw@postgres-platform:5432/shop\n"


class World:
    def __init__(self, tmp_path: Path):
        root = tmp_path / "root"
        # min_free_gb: the disk check measures real filesystems; keep it from depending on this machine.
        self.settings = Settings(root=root, deployments_dir=tmp_path / "deployments",
                                 backups_dir=tmp_path / "backups", certs_dir=tmp_path / "certs",
                                 min_free_gb=0.001)
        (root / "config" / PROJECT).mkdir(parents=True)
        self.settings.projects_file.write_text(PROJECTS_YML)
        env_file = root / "config" / PROJECT / f".env.{ENV}"
        env_file.write_text(ENV_FILE)
        env_file.chmod(0o600)
        self.registry = load_registry(self.settings.projects_file)
        files.apply(self.settings, files.plan(self.settings, self.registry))

        self.engine = FakeEngine()
        self.engine.add_container(NGINX, "platform-nginx:local", "platform")
        self.engine.add_container(POSTGRES, "postgres:16", "platform")
        for number in (1, 2, 3):
            self.engine.add_image(f"{BACKEND_REPO}:v{number}", alembic_head=f"000{number}",
                                  digest=f"{BACKEND_REPO}@sha256:{number:064x}")
            self.engine.add_image(f"{FRONTEND_REPO}:v{number}")
        self.engine.volumes.add(VOLUME)
        self.out = io.StringIO()
        self.report = ConsoleReport(self.out)

    # -- acting -----------------------------------------------------------------------------------

    def deployment(self, tag: str = "v2", skip_backup: bool = True, **options) -> pipeline.Deployment:
        return pipeline.Deployment(self.engine, self.settings, self.registry, PROJECT, ENV,
                                   pipeline.Options(tag=tag, skip_backup=skip_backup, **options), self.report)

    def deploy(self, tag: str = "v2", **options) -> dict:
        """Run a deploy that must succeed; return its manifest entry, as read back from disk."""
        self.deployment(tag, **options).run()
        return self.last()

    def failed_deploy(self, tag: str = "v2", **options) -> str:
        """Run a deploy that must fail; return the DeployFailed summary."""
        with pytest.raises(pipeline.DeployFailed) as failed:
            self.deployment(tag, **options).run()
        return str(failed.value)

    def recover(self, **options) -> bool:
        return recover.recover(self.engine, self.settings, self.registry.project(PROJECT), ENV, self.report,
                               **options)

    def forget_calls(self) -> None:
        self.engine.calls.clear()
        self.engine.log.clear()

    # -- reading the outcome ----------------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        return Path(self.settings.deployments_dir) / PROJECT / ENV

    def manifest(self) -> dict:
        return json.loads((self.state_dir / "manifest.json").read_text(encoding="utf-8"))

    def last(self) -> dict:
        """The newest manifest entry (what the last deploy or recovery recorded)."""
        return self.manifest()["deployment_history"][0]

    def statuses(self) -> list[str]:
        return [entry["status"] for entry in self.manifest()["deployment_history"]]

    def journal(self) -> dict | None:
        path = self.state_dir / "journal.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def containers(self) -> dict[str, tuple[str, str, str]]:
        """The project's containers (platform services and holds beside nginx, which lift themselves
        in time, left out): name -> (id, status, image)."""
        return {name: (c.id, c.status, c.image) for name, c in self.engine.containers.items()
                if name not in (NGINX, POSTGRES) and not name.startswith(("hold-", "guard-"))}

    def leftovers(self) -> list[str]:
        """Containers other than the live ones: candidates."""
        return sorted(name for name in self.containers() if name not in LIVE)

    def holds(self) -> list[str]:
        return sorted(name for name in self.engine.containers if name.startswith("hold-"))

    def serving(self) -> dict[str, str]:
        """Running live containers -> the image they run."""
        return {name: image for name, (_, status, image) in self.containers().items()
                if name in LIVE and status == "running"}

    def step(self, name: str, entry: dict | None = None) -> dict:
        return next(step for step in (entry or self.last())["steps"] if step["name"] == name)

    @staticmethod
    def candidate(live_name: str, deploy_id: str) -> str:
        return f"{live_name}-next-{deploy_id}"


@pytest.fixture
def world(tmp_path, monkeypatch) -> World:
    """Nothing deployed yet."""
    monkeypatch.setattr(switch, "settled_after", lambda changed_at: 0.0)
    monkeypatch.setattr(switch, "DNS_LONGEST_SECONDS", 0)
    monkeypatch.setattr(probes, "POLL_SECONDS", 0.01)
    monkeypatch.setenv("DEPLOYED_BY", "tests")
    for name in ("SLACK_WEBHOOK_URL", "PLATFORM_WEBHOOK_URL", "GIT_SHA", "GITHUB_SHA"):
        monkeypatch.delenv(name, raising=False)
    return World(tmp_path)


@pytest.fixture
def live(world) -> World:
    """v1 deployed and serving (database at 0001); the call log starts empty."""
    world.deploy("v1")
    assert world.serving() == {BACKEND: f"{BACKEND_REPO}:v1", FRONTEND: f"{FRONTEND_REPO}:v1"}
    world.forget_calls()
    return world


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the tool catches it, and (with ``no_rollback``) nothing rolls back."""


@pytest.fixture
def no_rollback(monkeypatch):
    """A SIGKILLed process runs no rollback. ``Deployment.run`` catches everything (BaseException
    included) and rolls back in ``_fail``, so to stand for a kill ``_fail`` re-raises at once: the
    deploy stops dead where the Killed hook fired, leaving its journal and containers behind. (The
    lock's ``with`` block and the step report's ``finally`` still run; the kernel releases a dead
    process's flock too, and the report writes nothing the recovery reads.)"""
    def stop_dead(self, *args, **kwargs):
        raise   # _fail is called from run()'s `except BaseException`: this re-raises what it caught

    monkeypatch.setattr(pipeline.Deployment, "_fail", stop_dead)


def kill_when(engine: FakeEngine, method: str, when=lambda *args: True, then=lambda *args: None) -> None:
    """SIGKILL the deploy at the first call of ``method`` whose arguments satisfy ``when``,
    after ``then(*args)`` (what the engine goes on doing without us, e.g. a migration)."""
    fired = []

    def hook(*args):
        if not fired and when(*args):
            fired.append(args)
            then(*args)
            raise Killed(f"killed before {method}{args[:1]}")

    engine.before(method, hook)


def killed_deploy(world: World, tag: str = "v2") -> dict:
    """Run a deploy that a ``kill_when`` hook stops dead; return the journal it left."""
    with pytest.raises(Killed):
        world.deployment(tag).run()
    journal = world.journal()
    assert journal is not None, "the killed deploy left no journal"
    return journal


def actions(engine: FakeEngine) -> list[tuple]:
    """What was done to containers and asked over HTTP, in order, as short tuples:
    ("run", name), ("connect", container, aliases), ("disconnect", container), ("start", name),
    ("stop", name), ("drain", name) or ("reopen", name) for a switch helper beside it, ("hold", addresses)
    and ("lift", "hold") for a hold beside nginx, ("guard", open addresses, name=port targets) and ("lift", "guard")
    for a guard, ("remove", name),
    ("rename", old, new), ("request", url) for curl in platform-nginx, ("alembic", "upgrade head")."""
    done = []
    for method, args in engine.log:
        if method == "run":
            done.append(("run", args[0]))
        elif method == "connect":
            done.append(("connect", args[0], args[2]))
        elif method == "stop" and args[0].startswith(("hold-", "guard-")):
            done.append(("lift", args[0].split("-")[0]))
        elif method in ("disconnect", "start", "stop"):
            done.append((method, args[0]))
        elif method == "start_beside" and args[1][3] == "guard":
            done.append(("guard", args[1][7], tuple(args[1][8:])))
        elif method == "start_beside":
            done.append(("hold", tuple(args[1][7:])))
        elif method == "run_beside":
            done.append((args[1][3], args[0]))
        elif method == "remove" and not args[0].startswith(("hold-", "guard-")):   # part of ("lift", ...)
            done.append(("remove", args[0]))
        elif method == "rename":
            done.append(("rename", args[0], args[1]))
        elif method == "exec_run" and args[1][0] == "curl":
            done += [("request", url) for url in curl_urls(args[1])]
        elif method == "exec_run" and args[1][0] == "alembic" and args[1][1] != "current":
            done.append(("alembic", " ".join(args[1][1:])))
    return done


def subsequence(items: list, expected: list) -> bool:
    """``expected`` appears in ``items`` in this order (other items may come between)."""
    remaining = iter(items)
    return all(any(item == wanted for item in remaining) for wanted in expected)


def is_alembic(command: str):
    """``when`` for an exec_run hook: the command starts with ``alembic <command>``."""
    return lambda name, argv, *rest: argv[:2] == ["alembic", command]

