"""Bring platform/nginx/conf.d in line with the registry: plan, then write, check or print."""

from dataclasses import dataclass, field
from pathlib import Path

from ..fsutil import write_atomic
from .render import MARKER, render_registry


@dataclass(frozen=True)
class Plan:
    """What generation would do to conf.d; ``files`` holds the full rendered text."""

    files: dict
    write: tuple[str, ...]      # new or changed
    unchanged: tuple[str, ...]
    remove: tuple[str, ...]     # generated earlier for a project that is gone
    warnings: tuple[str, ...] = field(default=())

    @property
    def differs(self) -> tuple[str, ...]:
        return tuple(sorted(self.write + self.remove))


def is_generated(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return MARKER in handle.readline()
    except OSError:
        return False


def has_certificate_in(certs_dir: Path):
    live = Path(certs_dir) / "live"
    return lambda name: (live / name / "fullchain.pem").is_file() and (live / name / "privkey.pem").is_file()


def plan(settings, registry, only: str | None = None) -> Plan:
    """Compare what the registry renders with what conf.d holds. Reads, never writes."""
    rendered = render_registry(registry, has_certificate_in(settings.certs_dir), only=only)
    conf_dir = settings.conf_dir
    write, unchanged = [], []
    for name, text in sorted(rendered.files.items()):
        current = conf_dir / name
        if current.is_file() and current.read_text(encoding="utf-8", errors="replace") == text:
            unchanged.append(name)
        else:
            write.append(name)
    remove = []
    if only is None and conf_dir.is_dir():
        remove = sorted(p.name for p in conf_dir.glob("*.conf")
                        if p.name not in rendered.files and is_generated(p))
    return Plan(rendered.files, tuple(write), tuple(unchanged), tuple(remove), rendered.warnings)


def apply(settings, planned: Plan) -> None:
    for name in planned.write:
        write_atomic(settings.conf_dir / name, planned.files[name], durable=False)
    for name in planned.remove:
        (settings.conf_dir / name).unlink(missing_ok=True)


def snapshot(settings, names) -> dict:
    """Current bytes of ``names`` in conf.d (None for absent files), to restore after a failed reload."""
    saved = {}
    for name in names:
        path = settings.conf_dir / name
        saved[name] = path.read_bytes() if path.is_file() else None
    return saved


def restore(settings, saved: dict) -> None:
    for name, data in saved.items():
        path = settings.conf_dir / name
        if data is None:
            path.unlink(missing_ok=True)
        else:
            write_atomic(path, data)
