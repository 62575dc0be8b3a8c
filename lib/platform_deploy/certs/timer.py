"""The systemd service and timer that run ``invoke certs.renew`` twice a day (pure text, then one write)."""

from pathlib import Path

from ..errors import PlatformError
from ..fsutil import write_atomic

UNIT = "platform-deploy-certs-renew"


def _quoted(value: str) -> str:
    """A systemd command-line word or Environment= value: quoted, specifiers (%) escaped."""
    if "\n" in value:
        raise PlatformError(f"{value!r}: a systemd unit cannot hold a newline")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%") + '"'


def units(invoke: Path, working_dir: Path, environment: dict[str, str]) -> dict[str, str]:
    """{file name: text}. ``environment``: the PLATFORM_* variables the renewal must see (paths, not secrets)."""
    settings = "".join(f"Environment={_quoted(f'{name}={value}')}\n" for name, value in sorted(environment.items()))
    service = (
        "[Unit]\n"
        "Description=Renew platform-deploy's TLS certificates that are due (quiet when none is)\n"
        "After=docker.service network-online.target\n"
        "Wants=network-online.target\n\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"WorkingDirectory={str(working_dir).replace('%', '%%')}\n"   # a plain path: systemd takes no quotes here
        f"{settings}"
        f"ExecStart={_quoted(str(invoke))} certs.renew\n"
    )
    timer = (
        "[Unit]\n"
        f"Description=Twice a day, run {UNIT}.service\n\n"
        "[Timer]\n"
        "OnCalendar=*-*-* 03,15:17:00\n"
        "RandomizedDelaySec=1h\n"     # Let's Encrypt asks clients not to renew on the hour
        "Persistent=true\n\n"         # a run missed while the machine was off happens at boot
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    return {f"{UNIT}.service": service, f"{UNIT}.timer": timer}


def write(directory: Path, texts: dict[str, str]) -> list[Path]:
    directory = Path(directory)
    if not directory.is_dir():
        raise PlatformError(f"{directory}: not a directory; pass --directory with an existing one")
    written = []
    for name, text in texts.items():
        write_atomic(directory / name, text, mode=0o644)
        written.append(directory / name)
    return written
