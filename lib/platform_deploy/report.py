"""Console output of long-running commands: one line per step with its result and duration.

On a terminal, ``console_report`` gives the live variant (liveprogress.py): the running step is redrawn
in place with its elapsed time, what it waits for and the bytes it moves. Anywhere else (CI, pipes, logs)
the lines are the same, printed once each step is over; the progress calls do nothing.
"""

import os
import sys
from dataclasses import replace

from .steps import STEPS
from .textutil import printable


def step_label(number: str) -> str:
    """Where a step is among the deploy's, e.g. ``3/10`` for the pull; a rollback's line keeps its name."""
    position = next((index for index, step in enumerate(STEPS, 1) if step.number == number), None)
    return f"{position}/{len(STEPS)}" if position else number


def step_line(number: str, name: str, status: str, seconds: float, detail: str = "") -> str:
    label = f"[{step_label(number)}]"
    return f"{label:>7} {name:<17} {status.upper():<11} {seconds:6.2f}s  {detail}".rstrip()


class ConsoleReport:
    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def _print(self, text: str) -> None:
        print(printable(text), file=self.stream, flush=True)   # details quote containers' output

    def started(self, number: str, name: str) -> None:
        """A step begins (its line is printed when it is over)."""

    def awaiting(self, text: str) -> None:
        """What the running step waits for now, e.g. ``backend: starting, 4 s of 60``."""

    def transferred(self, done: int, total: int | None = None) -> None:
        """Bytes the running step has moved so far (of ``total``, when known)."""

    def clear(self) -> None:
        """What ``started`` began is over, with nothing to print (``step`` ends a step with its line)."""

    def step(self, number: str, name: str, status: str, seconds: float, detail: str = "") -> None:
        self._print(step_line(number, name, status, seconds, detail))

    def check(self, check) -> None:
        mark = "skip" if check.skipped else ("pass" if check.ok else "FAIL")
        self._print(f"{'':11}{mark}  {check.name}: {check.detail}")

    def line(self, text: str) -> None:
        self._print(text)

    def summary(self, text: str) -> None:
        self._print(text)


def console_report() -> ConsoleReport:
    """The live report on a terminal (rich is imported only then), the plain one anywhere else."""
    if sys.stdout.isatty() and os.environ.get("TERM") != "dumb":
        from .liveprogress import LiveReport

        return LiveReport()
    return ConsoleReport()


class Scrubbed:
    """A report (any with ConsoleReport's methods) whose every text goes through ``scrub`` first."""

    def __init__(self, report, scrub):
        self.report, self.scrub = report, scrub

    def started(self, number: str, name: str) -> None:
        self.report.started(number, name)

    def awaiting(self, text: str) -> None:
        self.report.awaiting(self.scrub(text))

    def transferred(self, done: int, total: int | None = None) -> None:
        self.report.transferred(done, total)

    def clear(self) -> None:
        self.report.clear()

    def step(self, number: str, name: str, status: str, seconds: float, detail: str = "") -> None:
        self.report.step(number, name, status, seconds, self.scrub(detail))

    def check(self, check) -> None:
        self.report.check(replace(check, detail=self.scrub(check.detail)))

    def line(self, text: str) -> None:
        self.report.line(self.scrub(text))

    def summary(self, text: str) -> None:
        self.report.summary(self.scrub(text))
