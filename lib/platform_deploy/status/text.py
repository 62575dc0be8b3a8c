"""Render the status views as text for a terminal (pure)."""

from ..state.records import Status
from ..textutil import one_line
from ..textutil import table as columns

DOCKER_UNREACHABLE = "health unknown (Docker not reachable)"
# After a swarm service's image: why its running tasks say running, not healthy (status/services.py).
HEALTHCHECK_NOTE = {True: "", False: ", no healthcheck", None: ", healthcheck unknown (image not on this manager)"}


def seconds(value) -> str:
    return "?" if value is None else f"{value:.1f}s"


def outcome(attempt: dict) -> str:
    return attempt["status"].replace("_", " ")


def failure_text(attempt: dict) -> str:
    step = attempt["failed_step"]
    where = f"step {step['step']} {step['name']}" if step else None
    reason = attempt["failure"] or (step["detail"] if step else None)
    return one_line(": ".join(part for part in (where, reason) if part))  # for the table


def _field(label: str, value: str) -> str:
    return f"  {label:<14}{value}"


def current(view: dict) -> str:
    lines = [f"{view['project']}/{view['environment']}"]
    if view["maintenance"]:
        closed = view["maintenance"]
        lines.append(_field("maintenance", f"on since {closed['since']} (503, Retry-After {closed['retry_after']} s), "
                                           f"message: {one_line(closed['message'])}"))
    now = view["current"]
    if now is None:
        lines.append(_field("deployed", "nothing has gone live yet"))
    else:
        lines.append(_field("deployed at", f"{now['deployed_at'] or '?'} by {now['deployed_by'] or '?'}"))
        lines.append(_field("version", now["version"] or "?"))
        lines.append(_field("git sha", now["git_sha"] or "unknown"))
        lines.append(_field("backup", now["backup"] or "none (first deploy or --skip-backup)"))
        if now["database_backup"]:
            lines.append(_field("database", now["database_backup"]))
        lines.extend(_images(now["images"]))
    last = view["last_attempt"]
    if last is not None:
        lines.append(_field("last attempt", f"{outcome(last)} in {seconds(last['duration_seconds'])} "
                                            f"({last['version'] or '?'}, {last['deployed_at'] or '?'})"))
        if not Status(last["status"]).went_live and failure_text(last):
            lines.append(_field("", f"failed at {failure_text(last)}"))
        for action in last["rollback"]:
            lines.append(_field("", f"rollback: {action}"))
    lines.extend(_health(view["health"]))
    return "\n".join(lines)


def _images(images: list[dict]) -> list[str]:
    if not images:
        return [_field("images", "none recorded")]
    width = max(len(image["role"]) for image in images)
    return [_field("images" if index == 0 else "",
                   f"{image['role']:<{width}}  {image['image']}  {image['digest'] or '(no digest)'}")
            for index, image in enumerate(images)]


def _health(health: dict) -> list[str]:
    if not health["reachable"]:
        return [_field("health", DOCKER_UNREACHABLE)]
    rows = _services(health["services"]) if "services" in health else _containers(health["containers"])
    return [_field("health" if index == 0 else "", row) for index, row in enumerate(rows)] or [
        _field("health", "no containers configured")]


def _containers(containers: list[dict]) -> list[str]:
    return [f"{row['container']}: absent" if row["status"] is None
            else f"{row['container']}: {row['status']}, {row['health'] or 'no healthcheck'}" for row in containers]


def _services(services: list[dict]) -> list[str]:
    """A swarm's (status/services.py): each service, then one line per task meant to run, its node first."""
    rows = []
    for service in services:
        if not service["exists"]:
            rows.append(f"{service['service']}: absent")
            continue
        wanted = "global" if service["replicas"] is None else f"{service['replicas']} replica(s)"
        rows.append(f"{service['service']}: {service['image']}, {wanted}{HEALTHCHECK_NOTE[service['healthcheck']]}")
        width = max((len(task["node"]) for task in service["tasks"]), default=0)
        rows.extend(f"  {task['node']:<{width}}  {task['health']}{_error(task['error'])}" for task in service["tasks"])
        if not service["tasks"]:
            rows.append("  no task meant to run")
    return rows


def _error(error: str) -> str:
    return f" ({one_line(error)})" if error else ""


def history(view: dict) -> str:
    entries = view["history"]
    head = f"{view['project']}/{view['environment']}: {len(entries)} attempt(s) kept, newest first (* = live)"
    table = [("", "DEPLOYED AT", "VERSION", "STATUS", "DURATION", "BY", "FAILURE")]
    for entry in entries:
        table.append(("*" if entry["current"] else "", entry["deployed_at"] or "?", entry["version"] or "?",
                      outcome(entry), seconds(entry["duration_seconds"]), entry["deployed_by"] or "?",
                      failure_text(entry) if not Status(entry["status"]).went_live else ""))
    return "\n".join([head, *columns(table)])


def rollback(view: dict) -> str:
    backups, where = view["backups"], f"{view['project']}/{view['environment']}"
    others = (f"; {view['not_restorable']} other backup(s) cannot be restored (see invoke backup.list "
              f"--project {view['project']} --env {view['environment']})") if view["not_restorable"] else ""
    if not backups:
        return f"{where}: no backups to restore in {view['directory']}{others}"
    lines = [f"{where}: {len(backups)} backup(s) can be restored, newest first{others}"]
    for backup in backups:
        contents = [f"{role} {image}" for role, image in backup["images"].items()]
        if backup["database_backup"]:
            contents.append(f"database {backup['database_backup']}")
        made = f"{backup['created_at'] or '?'} by {backup['created_by'] or '?'}"
        if backup["reason"]:
            made += f" ({backup['reason']})"
        lines.append(f"  {backup['name']}  {made}, {backup['verified'] or 'not verified'}")
        lines.append(f"    contains: {', '.join(contents) or 'nothing recorded'}")
        lines.extend(f"    {command}" for command in backup["restore"])
        if backup["database_backup"]:
            lines.append("    (add --with-database to either command to restore the database too)")
    return "\n".join(lines)


def metrics_table(metrics) -> str:
    if not metrics:
        return "no deployments or backups recorded yet"
    rows = [("PROJECT/ENV", "ATTEMPTS", "LIVE", "ROLLED BACK", "MEDIAN", "P95", "BACKUPS", "RESTORES",
             "SWITCH OK/FAILED")]
    for m in metrics:
        rows.append((f"{m.project}/{m.environment}", str(m.attempts), _share(m.succeeded, m.success_ratio),
                     _share(m.rollbacks, m.rollback_ratio), seconds(m.duration_median), seconds(m.duration_p95),
                     f"{m.backups_created} ({m.backups_on_disk} kept)", str(m.restores),
                     f"{m.switches_ok}/{m.switches_failed}"))
    return "\n".join([*columns(rows), "  (over the last 10 attempts each manifest keeps)"])


def _share(count: int, ratio: float | None) -> str:
    return f"{count} ({ratio:.0%})" if ratio is not None else str(count)
