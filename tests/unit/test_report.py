"""The deploy's console lines (where each step is among the deploy's, its result and its time), and the live
variant a terminal gets: the running step redrawn in place, what it waits for, the bytes it moves."""

import io
import re
import time

from rich.console import Console

from platform_deploy import steps
from platform_deploy.liveprogress import LiveReport
from platform_deploy.report import ConsoleReport, Scrubbed, console_report

ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def lines_of(*calls) -> list[str]:
    out = io.StringIO()
    report = ConsoleReport(out)
    for call in calls:
        report.step(*call)
    return out.getvalue().splitlines()


def test_a_step_says_where_it_is_among_the_deploys_steps_aligned_on_the_bracket():
    assert lines_of((steps.PULL.number, steps.PULL.name, "ok", 0.05, "demo-backend:v2"),
                    (steps.MANIFEST.number, steps.MANIFEST.name, "ok", 0.0)) == [
        " [3/10] pull              OK            0.05s  demo-backend:v2",
        "[10/10] manifest          OK            0.00s"]


def test_the_half_steps_count_as_steps_and_a_rollback_keeps_its_name():
    assert [line.split()[0] for line in lines_of(
        (steps.MIGRATIONS.number, steps.MIGRATIONS.name, "ok", 0.4), (steps.SMOKE.number, steps.SMOKE.name, "ok", 0.2),
        (steps.ROLLBACK, "rollback", "ok", 1.0))] == ["[5/10]", "[7/10]", "[rollback]"]


def test_off_a_terminal_progress_prints_nothing_and_the_lines_stay_plain(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)   # not a terminal
    report = console_report()
    assert type(report) is ConsoleReport
    report.started(steps.HEALTH.number, steps.HEALTH.name)
    report.awaiting("backend: starting, 4 s of 60")
    report.transferred(5_000_000, 8_000_000)
    report.clear()
    report.step(steps.HEALTH.number, steps.HEALTH.name, "ok", 4.2, "backend: healthy")
    assert out.getvalue() == " [6/10] health            OK            4.20s  backend: healthy\n"


def terminal(width: int = 120) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=width, color_system=None, highlight=False), out


def drawn(out: io.StringIO) -> str:
    return ESCAPE.sub("", out.getvalue())


def test_on_a_terminal_the_running_step_shows_its_time_and_what_it_waits_for_then_its_line():
    console, out = terminal()
    report = LiveReport(console)
    report.started(steps.HEALTH.number, steps.HEALTH.name)
    report.awaiting("backend: starting, 4 s of 60")
    time.sleep(0.3)   # a few redraws
    report.step(steps.HEALTH.number, steps.HEALTH.name, "ok", 4.2, "backend: healthy")
    shown = drawn(out)
    assert re.search(r"\[6/10\] health\s+…\s+\d+\.\ds  backend: starting, 4 s of 60", shown), shown
    assert shown.rstrip().endswith(" [6/10] health            OK            4.20s  backend: healthy"), shown


def test_a_transfer_shows_bytes_and_rate_and_a_bar_when_the_total_is_known():
    console, out = terminal()
    report = LiveReport(console)
    report.started(steps.BACKUP.number, steps.BACKUP.name)
    report.transferred(4_200_000, 8_400_000)
    time.sleep(0.3)
    report.step(steps.BACKUP.number, steps.BACKUP.name, "ok", 1.0, "backup_20261202_050000")
    shown = drawn(out)
    assert "4.2 MB of 8.4 MB" in shown and "MB/s" in shown and "━" in shown, shown


def test_lines_printed_while_a_step_runs_go_above_it_and_stay():
    console, out = terminal()
    report = LiveReport(console)
    report.started(steps.PREFLIGHT.number, steps.PREFLIGHT.name)
    report.line("found interrupted deploy 20261202-abcd (stopped during switching); cleaning up")
    report.clear()
    assert "found interrupted deploy 20261202-abcd" in drawn(out)


def test_what_is_awaited_is_scrubbed_like_every_other_text():
    console, out = terminal()
    report = Scrubbed(LiveReport(console), lambda text: text.replace("s3cret", "***"))
    report.started(steps.MIGRATIONS.number, steps.MIGRATIONS.name)
    report.awaiting("backend: alembic -x password=s3cret upgrade head")
    time.sleep(0.3)
    report.clear()
    assert "s3cret" not in out.getvalue() and "password=***" in drawn(out)


COLOUR = re.compile(r"\x1b\[(?:[0-9]+;)*(?:3[0-8]|4[0-8]|9[0-7]|10[0-7])(?:;[0-9]+)*m")


def test_no_color_leaves_the_live_output_without_colours(monkeypatch):
    def shown() -> str:
        out = io.StringIO()
        report = LiveReport(Console(file=out, force_terminal=True, width=100))
        report.started(steps.PULL.number, steps.PULL.name)
        report.step(steps.PULL.number, steps.PULL.name, "ok", 0.1, "v2")
        return out.getvalue()

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert COLOUR.search(shown())   # OK in green
    monkeypatch.setenv("NO_COLOR", "1")
    assert not COLOUR.search(shown())
