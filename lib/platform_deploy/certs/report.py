"""certs.status: each wanted certificate, its expiry and state, as a table or JSON (pure)."""

import json
from datetime import datetime

from ..certfiles import Observed, expiry
from ..textutil import table


def as_dict(seen: Observed, now: datetime) -> dict:
    certificate = seen.certificate
    return {
        "project": seen.want.project,
        "environment": seen.want.environment,
        "certificate": seen.want.name,
        "domains": list(seen.want.domains + seen.want.wildcards),
        "state": seen.state.value,
        "not_after": certificate.not_after.isoformat() if certificate else None,
        "seconds_left": int(certificate.seconds_left(now)) if certificate else None,
        "detail": seen.detail,
    }


def render(observed: list[Observed], now: datetime, as_json: bool = False) -> str:
    if as_json:
        return json.dumps([as_dict(seen, now) for seen in observed], indent=2)
    if not observed:
        return "no domains in config/projects.yml"
    rows = [("PROJECT/ENV", "CERTIFICATE", "STATE", "EXPIRES", "DAYS LEFT", "DETAIL")]
    for seen in observed:
        certificate = seen.certificate
        rows.append((f"{seen.want.project}/{seen.want.environment}", seen.want.name, seen.state.value,
                     expiry(certificate) if certificate else "-",
                     str(certificate.days_left(now)) if certificate else "-", seen.detail))
    return "\n".join(table(rows))
