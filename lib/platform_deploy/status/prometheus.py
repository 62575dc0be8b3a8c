"""Deploy metrics in the Prometheus text exposition format, for node_exporter's textfile collector (pure)."""

PREFIX = "platform_deploy_"
WINDOW = " in the kept history (last 10 attempts)"

# (name, help, value): one gauge per project/environment each.
GAUGES = (
    ("deploy_attempts", "Deploy attempts" + WINDOW, lambda m: m.attempts),
    ("deploy_succeeded", "Deploys that went live" + WINDOW, lambda m: m.succeeded),
    ("deploy_failed", "Deploys that did not go live" + WINDOW, lambda m: m.failed),
    ("deploy_success_ratio", "Share of attempts that went live" + WINDOW, lambda m: m.success_ratio),
    ("rollbacks", "Attempts rolled back, or whose rollback failed," + WINDOW, lambda m: m.rollbacks),
    ("rollback_ratio", "Share of attempts rolled back" + WINDOW, lambda m: m.rollback_ratio),
    ("backups_on_disk", "Backup .meta files in the backups directory", lambda m: m.backups_on_disk),
    ("backups_created", "Distinct backups recorded in the kept history or on disk", lambda m: m.backups_created),
    ("restores", "Successful restores of a backup" + WINDOW, lambda m: m.restores),
)


def escape_label(value) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _sample(name: str, labels: dict, value) -> str:
    rendered = ",".join(f'{key}="{escape_label(val)}"' for key, val in labels.items())
    return f"{PREFIX}{name}{{{rendered}}} {value!r}"


def _family(name: str, kind: str, help_text: str, samples: list[str]) -> list[str]:
    if not samples:
        return []
    return [f"# HELP {PREFIX}{name} {escape_help(help_text)}.", f"# TYPE {PREFIX}{name} {kind}", *samples]


def _labels(m, **extra) -> dict:
    return {"project": m.project, "environment": m.environment, **extra}


def render(metrics, certificates=(), now=None) -> str:
    """Every family for ``metrics`` (status.metrics.Metrics objects) and ``certificates`` (certfiles.Observed,
    expiry counted from ``now``), newline-terminated."""
    lines = []
    for name, help_text, value_of in GAUGES:
        lines += _family(name, "gauge", help_text, [_sample(name, _labels(m), value_of(m))
                                                    for m in metrics if value_of(m) is not None])
    switches = [_sample("traffic_switches", _labels(m, result=result), count) for m in metrics
                for result, count in (("ok", m.switches_ok), ("failed", m.switches_failed))]
    lines += _family("traffic_switches", "gauge", "Traffic switch steps (step 6, nginx) by result" + WINDOW,
                     switches)
    durations = []
    for m in metrics:
        if m.durations:
            durations += [_sample("deploy_duration_seconds", _labels(m, quantile="0.5"), m.duration_median),
                          _sample("deploy_duration_seconds", _labels(m, quantile="0.95"), m.duration_p95),
                          _sample("deploy_duration_seconds_sum", _labels(m), float(sum(m.durations))),
                          _sample("deploy_duration_seconds_count", _labels(m), len(m.durations))]
    lines += _family("deploy_duration_seconds", "summary", "Duration of deploy attempts" + WINDOW, durations)
    expiring = [_sample("certificate_expiry_seconds", {"project": seen.want.project, "environment":
                        seen.want.environment, "certificate": seen.want.name}, int(seen.certificate.seconds_left(now)))
                for seen in certificates if seen.certificate]
    lines += _family("certificate_expiry_seconds", "gauge", "Seconds until the TLS certificate expires (negative: "
                     "expired; no sample: none installed)", expiring)
    return "\n".join(lines) + "\n"

