"""The deploy's console lines: where each step is among the deploy's, its result and its time."""

import io

from platform_deploy import steps
from platform_deploy.report import ConsoleReport


def lines_of(*calls) -> list[str]:
    out = io.StringIO()
    report = ConsoleReport(out)
    for call in calls:
        report.step(*call)
    return out.getvalue().splitlines()


def test_a_step_says_where_it_is_among_the_deploys_steps():
    assert lines_of((steps.PULL.number, steps.PULL.name, "ok", 0.05, "demo-backend:v2"),
                    (steps.MANIFEST.number, steps.MANIFEST.name, "ok", 0.0)) == [
        "[3/10]  pull              OK            0.05s  demo-backend:v2",
        "[10/10] manifest          OK            0.00s"]


def test_the_half_steps_count_as_steps_and_a_rollback_keeps_its_name():
    assert [line.split()[0] for line in lines_of(
        (steps.MIGRATIONS.number, steps.MIGRATIONS.name, "ok", 0.4), (steps.SMOKE.number, steps.SMOKE.name, "ok", 0.2),
        (steps.ROLLBACK, "rollback", "ok", 1.0))] == ["[5/10]", "[7/10]", "[rollback]"]
