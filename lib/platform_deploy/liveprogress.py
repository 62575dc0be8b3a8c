"""Live progress on a terminal (report.console_report picks it): the running step's line is redrawn in place
with its elapsed time, what it waits for and the bytes it moves; finished lines are the plain report's.

rich draws it (cursor movement, terminal width, NO_COLOR and dumb terminals are its business, not ours), and
is imported only here, so that commands without live output (status) start as fast as before.
"""

import threading
import time

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.text import Text

from .report import ConsoleReport, step_label, step_line
from .textutil import byte_size, printable

REFRESH_PER_SECOND = 8
STATUS_STYLES = {"OK": "green", "FAILED": "bold red", "INTERRUPTED": "bold red", "SKIPPED": "yellow"}


class LiveReport(ConsoleReport):
    """A ConsoleReport whose running step is shown while it runs (``started`` to ``step``)."""

    def __init__(self, console: Console | None = None):
        super().__init__()
        self.console = console or Console(highlight=False)
        self._lock = threading.Lock()   # awaiting and transferred come from the steps' worker threads
        self._live: Live | None = None
        self._running = ("", "")
        self._since = 0.0
        self._awaiting = ""
        self._transfer: tuple[int, int | None] | None = None

    def started(self, number: str, name: str) -> None:
        self.clear()
        with self._lock:
            self._running, self._since, self._awaiting, self._transfer = (number, name), time.monotonic(), "", None
        self._live = Live(self, console=self.console, refresh_per_second=REFRESH_PER_SECOND, transient=True)
        self._live.start()

    def awaiting(self, text: str) -> None:
        with self._lock:
            self._awaiting = printable(text)

    def transferred(self, done: int, total: int | None = None) -> None:
        with self._lock:
            self._transfer = (done, total)

    def step(self, number: str, name: str, status: str, seconds: float, detail: str = "") -> None:
        if (number, name) == self._running:
            self.clear()
        line = Text(printable(step_line(number, name, status, seconds, detail)))
        word = status.upper()
        line.highlight_words([f" {word} "], style=STATUS_STYLES.get(word, ""))
        self.console.print(line, soft_wrap=True)

    def _print(self, text: str) -> None:
        self.console.print(Text(printable(text)), soft_wrap=True)   # above the live line, if one is shown

    def clear(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __rich__(self):
        """The live line, drawn REFRESH_PER_SECOND times a second."""
        with self._lock:
            (number, name), awaiting, transfer = self._running, self._awaiting, self._transfer
            elapsed = time.monotonic() - self._since
        head = Text(f"{'[' + step_label(number) + ']':>7} {name:<17} ", style="bold")   # as step_line aligns
        head.append(f"{'…':<11} {elapsed:6.1f}s  ", style="cyan")
        head.append(awaiting)
        head.no_wrap, head.overflow = True, "ellipsis"   # one line, however narrow the terminal
        if transfer is None:
            return head
        done, total = transfer
        rate = f"{byte_size(done / elapsed)}/s" if elapsed > 0.2 else ""
        moved = Text(f"{'':26}{byte_size(done)}{f' of {byte_size(total)}' if total else ''}  {rate}")
        if not total:
            return Group(head, moved)
        return Group(head, ProgressBar(total=total, completed=min(done, total), width=40), moved)
