"""How the demo shows a job's progress: plain lines or a rich live view."""

from __future__ import annotations

import sys
from typing import Any, Protocol

import anyio
import anyio.to_thread

PLAIN_LINE_SECONDS = 5.0
"""Without a terminal, a progress line on every status change and at least this often."""


# -- the progress display ---------------------------------------------------------------


class _View(Protocol):
    def start(self, title: str, expected: float | None) -> None: ...

    async def update(self, progress: float, total: float | None, message: str | None) -> None: ...

    def stop(self, ok: bool) -> None: ...


def _progress_view() -> _View:
    """A rich progress bar on a terminal; plain lines otherwise (CI logs, pipes, tests)."""
    from rich.console import Console

    console = Console(file=sys.stdout)
    return _RichView(console) if console.is_interactive else _PlainView()


class _PlainView:
    """One line per status change (and every few seconds), no escape codes."""

    def __init__(self) -> None:
        self._last_status = ""
        self._last_at = -PLAIN_LINE_SECONDS

    def start(self, title: str, expected: float | None) -> None:
        self._last_status = ""

    async def update(self, progress: float, total: float | None, message: str | None) -> None:
        status = (message or "").split(" · ")[0]
        now = anyio.current_time()
        if status != self._last_status or now - self._last_at >= PLAIN_LINE_SECONDS:
            self._last_status, self._last_at = status, now
            print(f"  {message or ''}", flush=True)

    def stop(self, ok: bool) -> None:
        return None


class _RichView:
    """A rich Progress: spinner, bar, percent when the length is known, the server's status.

    Progress values are seconds since submission. The bar's length is the server's
    estimate when it sends one, else the length the demo expects (the simulator's job
    time), else unknown (a pulsing bar). It never shows 100% before the result.
    """

    def __init__(self, console: Any) -> None:
        self._console = console
        self._progress: Any = None
        self._task: Any = None
        self._expected: float | None = None

    def start(self, title: str, expected: float | None) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TaskProgressColumn,
            TextColumn,
        )

        self._expected = expected
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[status]}", markup=False),
            console=self._console,
        )
        self._progress.start()
        self._task = self._progress.add_task(title, total=expected, status="starting")

    async def update(self, progress: float, total: float | None, message: str | None) -> None:
        if self._progress is None:
            return
        length = total or self._expected
        done = min(progress, length * 0.99) if length else progress
        self._progress.update(self._task, total=length, completed=done, status=message or "")

    def stop(self, ok: bool) -> None:
        if self._progress is None:
            return
        task = self._progress.tasks[0]
        if ok:
            length = task.total or 1.0
            self._progress.update(self._task, total=length, completed=length, status="done")
        self._progress.stop()
        self._progress = None
