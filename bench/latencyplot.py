"""The picture of a load run: each request's latency over time, failed requests, and the deploys' steps.

Used by bench_zero_downtime.py; matplotlib is the ``bench`` extra (bin/setup installs it).
"""

import time
from dataclasses import dataclass, field

from benchstack import Quiet


@dataclass
class Deploy:
    label: str
    started: float
    ended: float = 0.0
    steps: list = field(default_factory=list)   # (monotonic time the step ended, step name)


class StepTimes(Quiet):
    """A silent report that notes when each step of the current deploy ended."""

    def __init__(self, deploys: list[Deploy]):
        super().__init__()
        self.deploys = deploys

    def step(self, number, name, status, seconds, detail=""):
        self.deploys[-1].steps.append((time.monotonic(), name))


def draw(path, result, deploys: list[Deploy], origin: float) -> None:
    """Write the plot to ``path`` (PNG or SVG by its suffix); times are seconds since ``origin``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(14, 5), dpi=110)
    times = [due - origin for due, _ in result.latencies]
    axes.scatter(times, [seconds * 1000 for _, seconds in result.latencies], s=2, alpha=0.35,
                 color="tab:blue", label="request latency (from when it was due)", rasterized=True)
    if result.failures:
        axes.scatter([due - origin for due, _ in result.failures], [1500] * len(result.failures), marker="x",
                     color="tab:red", label=f"failed requests ({len(result.failures)})")
    axes.axhline(1000, color="tab:red", linewidth=0.6, linestyle=":", label="1 s")
    for deploy in deploys:
        axes.axvspan(deploy.started - origin, deploy.ended - origin, color="tab:orange", alpha=0.12)
        axes.text(deploy.started - origin, 2500, deploy.label, rotation=90, fontsize=7, va="top")
        for moment, _ in deploy.steps:
            axes.axvline(moment - origin, color="grey", linewidth=0.4, alpha=0.6)
    axes.set_yscale("log")
    axes.set_ylim(0.5, 3000)
    axes.set_xlabel("seconds since the load started (shaded: a deploy, pre-flight to the end of its retirement; "
                    "grey lines: its steps ending)")
    axes.set_ylabel("latency, ms (log)")
    axes.set_title(f"{result.ok + result.failed:,} requests through platform-nginx, {result.failed} failed")
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
