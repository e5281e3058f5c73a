"""The terminal's live view of a long run: one rich progress line on stderr, only on a terminal.

It shows the coarse step a command reports (`probe contract`, `running audit: ...`) and, while
a load step runs, what its meter counts (`infermedic.live`): requests done of planned, the
current rate, errors so far, elapsed and remaining time, refreshed four times a second.
It is transient (gone when the run ends) and never touches stdout, so a JSON report piped
from stdout stays clean; off a terminal nothing is drawn and nothing is counted.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO

from rich.console import Console, RenderableType
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from infermedic.live import LoadMeter, StepStatus, metering

STEP_CHARS = 48  # the step's name on the live line


def format_status(status: StepStatus) -> str:
    """`312/500 requests · 31 req/s · 0 errors · 0:10 elapsed · 0:06 left`."""
    planned = f"/{status.planned_requests}" if status.planned_requests else ""
    parts = [
        f"{status.done}{planned} requests",
        f"{status.rate_rps:.0f} req/s" if status.rate_rps >= 10 else f"{status.rate_rps:.1f} req/s",
        f"{status.errors} error{'' if status.errors == 1 else 's'}",
        f"{_clock(status.elapsed_s)} elapsed",
    ]
    remaining = status.remaining_s
    if remaining is not None:
        parts.append(f"{_clock(remaining)} left")
    return " · ".join(parts)


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


class LiveView(Progress):
    """A progress line that reads the meter on every refresh (rich's refresh thread)."""

    def __init__(self, label: str, meter: LoadMeter, console: Console) -> None:
        # set before rich's constructor, which renders once
        self.meter = meter
        self._label = label
        self._step: tuple[str, float | None] = ("starting", None)
        self._task: TaskID | None = None
        super().__init__(
            TextColumn("[bold]{task.description}[/bold]"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            console=console,
            transient=True,
            refresh_per_second=4,
            redirect_stdout=False,  # stdout carries reports; it is never rerouted
        )
        self._task = self.add_task(label, total=None, detail="")

    def step(self, what: str, fraction: float | None = None) -> None:
        """The coarse step a command reports (shown while no load step runs)."""
        self._step = (what, fraction)

    def get_renderables(self) -> Iterable[RenderableType]:
        status = self.meter.snapshot()
        if status is None:
            what, fraction = self._step
            description, detail = f"{self._label} {what}", ""
        else:
            fraction, description, detail = status.fraction, status.step, format_status(status)
        if self._task is None:
            return
        if len(description) > STEP_CHARS:
            # the full message is printed above the line; the live line keeps room for the bar
            description = description[: STEP_CHARS - 1] + "…"
        self.update(
            self._task,
            description=description,
            total=None if fraction is None else 1.0,
            completed=fraction or 0.0,
            detail=detail,
        )
        yield from super().get_renderables()


@contextlib.contextmanager
def live_view(label: str, *, stream: TextIO | None = None) -> Iterator[LiveView | None]:
    """A live view on `stream` (stderr) when it is a terminal, else None (and no counting)."""
    from infermedic.cli.console import console_for

    target = stream if stream is not None else sys.stderr
    isatty = getattr(target, "isatty", None)
    if not (isatty and isatty()):
        yield None
        return
    console = console_for(target)
    meter = LoadMeter()
    with metering(meter), LiveView(label, meter, console) as view:
        yield view


def narrator(view: LiveView | None, console: Console | None) -> Callable[[str], None] | None:
    """A `progress(message)` callback: each message printed (above the live line when there
    is one, else on `console`; nowhere when neither) and shown as the current step."""
    if view is None and console is None:
        return None

    def say(message: str) -> None:
        if view is not None:
            view.console.print(message, markup=False, highlight=False)
            view.step(message.strip())
        elif console is not None:
            console.print(message, markup=False, highlight=False)

    return say


__all__ = ["LiveView", "format_status", "live_view", "narrator"]
