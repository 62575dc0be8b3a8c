"""Console output of long-running commands: one line per step with its result and duration."""

import sys


class ConsoleReport:
    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def step(self, number: str, name: str, status: str, seconds: float, detail: str = "") -> None:
        self._print(f"[{number:>8}] {name:<17} {status.upper():<11} {seconds:6.2f}s  {detail}".rstrip())

    def check(self, check) -> None:
        mark = "skip" if check.skipped else ("pass" if check.ok else "FAIL")
        self._print(f"{'':11}{mark}  {check.name}: {check.detail}")

    def line(self, text: str) -> None:
        self._print(text)

    def summary(self, text: str) -> None:
        self._print(text)
