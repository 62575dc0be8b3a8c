"""The benchmark's plot: drawn from a load result and the deploys' step times (no engine needed)."""

import struct

from latencyplot import Deploy, StepTimes, draw
from loadgen import LoadResult


def test_the_plot_shows_latencies_failures_and_step_boundaries(tmp_path):
    deploys = [Deploy("v2", started=10.0)]
    report = StepTimes(deploys)
    report.step("1", "pre-flight", "ok", 0.1)
    report.step("6", "switch traffic", "ok", 2.0)
    deploys[-1].ended = deploys[-1].steps[-1][0] + 1
    assert [name for _, name in deploys[0].steps] == ["pre-flight", "switch traffic"]
    result = LoadResult(ok=3, failed=1, latencies=[(10.5, 0.004), (11.0, 0.9), (11.5, 0.003), (12.0, 1.2)],
                        failures=[(12.0, "HTTP 502")])
    path = tmp_path / "plot.png"
    draw(path, result, deploys, origin=9.0)
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    assert (width, height) == (14 * 110, 5 * 110)
