"""Where the tool reads and writes, and the names of the platform services.

Every setting comes from, in order of precedence: a ``PLATFORM_*`` environment
variable, the ``platform:`` section of invoke.yaml (or any Invoke config level),
then the default below.  Tests point all paths into a temporary directory.
"""

import os
from dataclasses import dataclass, fields
from pathlib import Path

from .naming import DEFAULT_POSTGRES_CONTAINER

REPO_ROOT = Path(__file__).resolve().parents[2]
ACME_DIRECTORIES = {
    "production": "https://acme-v02.api.letsencrypt.org/directory",
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
ENGINES = ("docker", "swarm")


@dataclass(frozen=True)
class Settings:
    root: Path = REPO_ROOT
    deployments_dir: Path = Path("/opt/deployments")
    backups_dir: Path = Path("/opt/backups")
    certs_dir: Path = Path("/etc/letsencrypt")
    nginx_container: str = "platform-nginx"
    postgres_container: str = DEFAULT_POSTGRES_CONTAINER
    network: str = "platform"
    min_free_gb: float = 5.0        # pre-flight: free space needed for Docker data and backups
    # Project networks get a /24 each from here: Docker's default pools hold only ~30 networks.
    subnet_pool: str = "10.213.0.0/16"
    backup_keep: int = 10           # backup retention: keep the newest N ...
    backup_max_age_days: float = 30.0   # ... and none older than this (the live one's backup stays)
    # ACME (invoke certs.*): a directory URL, or "production" / "staging" for Let's Encrypt's.
    acme_directory: str = "production"
    acme_email: str = ""            # the account's contact; optional, Let's Encrypt mails expiry warnings to it
    acme_ca_bundle: Path | None = None   # CA bundle for a private or test ACME server; None: the system's CAs
    certs_renew_days: float = 30.0  # renew a certificate when fewer days than this remain
    # "docker": one host's engine; "swarm": a swarm manager's API (DOCKER_HOST either way).
    engine: str = "docker"
    # On a swarm: the registry every node pulls the platform's own images from (e.g. registry.example:5000).
    swarm_registry: str = ""

    @property
    def projects_file(self) -> Path:
        return self.root / "config" / "projects.yml"

    @property
    def maintenance_file(self) -> Path:
        """Which project/environments answer with a 503 page (config/maintenance.py)."""
        return self.root / "config" / "maintenance.yml"

    @property
    def acme_directory_url(self) -> str:
        url = ACME_DIRECTORIES.get(self.acme_directory, self.acme_directory)
        if not url.startswith("https://"):
            from .errors import ConfigError

            raise ConfigError([f"setting acme_directory (PLATFORM_ACME_DIRECTORY): {self.acme_directory!r} is "
                               "neither production, staging nor an https:// URL"])
        return url

    @property
    def on_swarm(self) -> bool:
        """Whether DOCKER_HOST is a swarm manager (PLATFORM_ENGINE=swarm); an unknown engine is a ConfigError."""
        if self.engine not in ENGINES:
            from .errors import ConfigError

            raise ConfigError([f"setting engine (PLATFORM_ENGINE): {self.engine!r} is neither docker nor swarm"])
        return self.engine == "swarm"

    @property
    def conf_dir(self) -> Path:
        return self.root / "platform" / "nginx" / "conf.d"

    def relative(self, path: Path) -> str:
        """``path`` as the user knows it: relative to the platform root when inside it."""
        try:
            return str(Path(path).relative_to(self.root))
        except ValueError:
            return str(path)

    @classmethod
    def load(cls, config=None, environ=None) -> "Settings":
        """Build settings from an Invoke config section (a mapping) and the environment."""
        section = dict(config or {})
        environ = os.environ if environ is None else environ
        values = {}
        for field in fields(cls):
            raw = environ.get(f"PLATFORM_{field.name.upper()}") or section.get(field.name)
            if raw in (None, ""):
                continue
            values[field.name] = _convert(field, raw)
        return cls(**values)


def _convert(field, raw):
    if field.type in (Path, Path | None):
        return Path(raw).expanduser().resolve()
    if field.type in (float, int):
        try:
            return field.type(raw)
        except ValueError:
            from .errors import ConfigError

            kind = "a number" if field.type is float else "a whole number"
            raise ConfigError([f"setting {field.name} (PLATFORM_{field.name.upper()}): {raw!r} is not {kind}"])
    return str(raw)
