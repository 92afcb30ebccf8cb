"""Waiting on a prediction: a backing-off poll schedule, a deadline, live progress.

`wait_for_prediction` polls until the job ends or the budget runs out. While it waits, a
heartbeat reports progress at least every `heartbeat` seconds, and every status change is
reported at once. `progress` is the elapsed time in seconds, strictly increasing. The
heartbeat is stopped before the function returns, so no notification can follow the
result. Cancellation (the caller's scope) stops everything at once: no further request.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import anyio

from atlas_mcp_py.errors import AtlasError
from atlas_mcp_py.models import Prediction

__all__ = ["PollSchedule", "ProgressFn", "WaitOutcome", "progress_message", "wait_for_prediction"]

logger = logging.getLogger(__name__)

ProgressFn = Callable[[float, float | None, str], Awaitable[None]]
"""(progress, total, message) -> None; `total` only when an estimate exists."""


@dataclass(frozen=True)
class PollSchedule:
    """Poll delays that start fast and back off: initial, initial*factor, ... up to maximum."""

    initial: float = 1.0
    maximum: float = 5.0
    factor: float = 1.5

    def delays(self) -> Iterator[float]:
        delay = self.initial
        while True:
            yield delay
            delay = min(self.maximum, delay * self.factor)


@dataclass
class WaitOutcome:
    """How a wait ended: the last prediction seen, and whether the budget ran out."""

    prediction: Prediction | None
    timed_out: bool
    elapsed: float
    poll_error: AtlasError | None = None
    """The error of the last poll when polling itself kept failing (the job may be fine)."""
    stopped: bool = False
    """The wait was ended early by `stop` (the server is shutting down)."""

    @property
    def finished(self) -> bool:
        return self.prediction is not None and self.prediction.state != "processing"


def progress_message(status: str, elapsed: float) -> str:
    return f"Atlas: {status} · {int(elapsed)} s"


class _Reporter:
    """Serialises progress reports so `progress` strictly increases."""

    def __init__(
        self,
        sink: ProgressFn | None,
        started_at: float,
        estimate: float | None,
        clock: Callable[[], float],
    ) -> None:
        self._sink = sink
        self._started_at = started_at
        self._estimate = estimate
        self._clock = clock
        self._last = -math.inf
        self._lock = anyio.Lock()
        self.status = "submitted"
        self.last_sent_at = -math.inf

    def elapsed(self) -> float:
        return max(0.0, self._clock() - self._started_at)

    async def report(self) -> None:
        if self._sink is None:
            return
        async with self._lock:
            elapsed = self.elapsed()
            value = max(round(elapsed, 1), self._last + 0.1)
            self._last = value
            total = None
            if self._estimate is not None and value < self._estimate:
                total = round(self._estimate, 1)
            self.last_sent_at = self._clock()
            await self._sink(value, total, progress_message(self.status, elapsed))


async def wait_for_prediction(
    fetch: Callable[[], Awaitable[Prediction]],
    *,
    budget: float,
    started_at: float,
    schedule: PollSchedule,
    heartbeat: float,
    on_progress: ProgressFn | None = None,
    on_update: Callable[[Prediction], Awaitable[None]] | None = None,
    estimate: float | None = None,
    initial: Prediction | None = None,
    clock: Callable[[], float] = time.monotonic,
    stop: anyio.Event | None = None,
) -> WaitOutcome:
    """Poll `fetch()` until the job ends or `budget` seconds pass.

    `started_at` is the `clock()` time of submission (elapsed time is counted from it).
    `initial` is the state already known (the submission's answer): only changes from it
    count as status changes. `on_update` sees every poll result whose status changed.
    A poll that fails (after the client's own retries) does not end the wait: the next
    scheduled poll tries again; the last error is kept in the outcome.
    `stop`, once set, ends the wait like the budget running out (server shutdown).
    """
    reporter = _Reporter(on_progress, started_at, estimate, clock)
    last: Prediction | None = initial
    if initial is not None:
        reporter.status = initial.status
    poll_error: AtlasError | None = None
    finished = False

    async def heartbeat_loop() -> None:
        while True:
            await anyio.sleep(max(0.0, reporter.last_sent_at + heartbeat - clock()))
            if clock() - reporter.last_sent_at >= heartbeat:
                await reporter.report()

    async with anyio.create_task_group() as tg:
        await reporter.report()
        tg.start_soon(heartbeat_loop)
        with anyio.move_on_after(budget) as waiting:
            if stop is not None:
                tg.start_soon(_cancel_when_set, stop, waiting)
            for delay in schedule.delays():
                try:
                    prediction = await fetch()
                except AtlasError as exc:
                    poll_error = exc
                    logger.warning("poll failed, will try again: %s", exc)
                else:
                    poll_error = None
                    changed = last is None or prediction.status != last.status
                    last = prediction
                    if changed:
                        if on_update is not None:
                            await on_update(prediction)
                        reporter.status = prediction.status
                        await reporter.report()
                        if prediction.state != "processing":
                            finished = True
                            break
                await anyio.sleep(delay)
        tg.cancel_scope.cancel()  # no notification may follow the result
    return WaitOutcome(
        prediction=last,
        timed_out=not finished,
        elapsed=reporter.elapsed(),
        poll_error=poll_error,
        stopped=not finished and stop is not None and stop.is_set(),
    )


async def _cancel_when_set(event: anyio.Event, scope: anyio.CancelScope) -> None:
    await event.wait()
    scope.cancel()
