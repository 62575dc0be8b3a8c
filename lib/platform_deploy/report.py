"""Console output of long-running commands: one line per step with its result and duration."""

import sys
from dataclasses import replace

from .textutil import printable


class ConsoleReport:
    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def _print(self, text: str) -> None:
        print(printable(text), file=self.stream, flush=True)   # details quote containers' output

    def step(self, number: str, name: str, status: str, seconds: float, detail: str = "") -> None:
        self._print(f"[{number:>8}] {name:<17} {status.upper():<11} {seconds:6.2f}s  {detail}".rstrip())

    def check(self, check) -> None:
        mark = "skip" if check.skipped else ("pass" if check.ok else "FAIL")
        self._print(f"{'':11}{mark}  {check.name}: {check.detail}")

    def line(self, text: str) -> None:
        self._print(text)

    def summary(self, text: str) -> None:
        self._print(text)


class Scrubbed:
    """A report (any with ConsoleReport's methods) whose every text goes through ``scrub`` first."""

    def __init__(self, report, scrub):
        self.report, self.scrub = report, scrub

    def step(self, number: str, name: str, status: str, seconds: float, detail: str = "") -> None:
        self.report.step(number, name, status, seconds, self.scrub(detail))

    def check(self, check) -> None:
        self.report.check(replace(check, detail=self.scrub(check.detail)))

    def line(self, text: str) -> None:
        self.report.line(self.scrub(text))

    def summary(self, text: str) -> None:
        self.report.summary(self.scrub(text))
