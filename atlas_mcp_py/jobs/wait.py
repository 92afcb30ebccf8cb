"""Waiting on a prediction: a poll schedule aimed at the job's expected end, a deadline,
live progress.

`wait_for_prediction` polls until the job ends or the budget runs out. While it waits, a
heartbeat reports progress at least every `heartbeat` seconds, and every status change is
reported at once. `progress` is the elapsed time in seconds, strictly increasing. The
heartbeat is stopped before the function returns, so no notification can follow the
result. Cancellation (the caller's scope) stops everything at once: no further request.

When to poll (`PollSchedule.next_poll`) comes from how long this model's recent jobs took
(`durations.ModelDurations`: the jobs this server saw end, seeded from the job ledger):

- nothing known (a model's first job): one poll after `initial` seconds (a job Atlas
  refuses at once), then one every `maximum` seconds: video jobs take tens of seconds to
  minutes, and a ramp of quick polls would only be spent on them;
- before the expected end: guard polls, evenly spread, at most `maximum` apart (a job
  that fails early is still seen within `maximum`);
- where recent jobs ended (a window from the shortest to the longest of a group of
  durations within 25 % of each other, plus `margin`): polls at most `initial` apart,
  so a job ending there is seen within `initial` seconds (half that on average);
- just past a window (by up to 10 % of its end, at least `initial`): a slow job of that
  kind: back off again from `initial` by `factor`; further past it, a job of another
  kind: guard polls again (up to the next window, or every `maximum` seconds).

No two polls are more than `maximum` apart. A job that ends while the wait knows nothing
is seen within `maximum` seconds; once a few jobs of a model have ended, the next ones
are seen within about `initial` seconds while most of their wait is polled every
`maximum` seconds. A sibling job of the same model that ends while this one waits
reshapes its schedule at once.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import anyio

from atlas_mcp_py.atlas import Prediction
from atlas_mcp_py.errors import AtlasError
from atlas_mcp_py.jobs.durations import ModelDurations, run_time

__all__ = [
    "PollSchedule",
    "WaitOutcome",
    "WaitProgressFn",
    "WaitSpec",
    "progress_message",
    "wait_for_prediction",
]

logger = logging.getLogger(__name__)

WINDOW_GAP_SHARE = 0.25
"""Two recent durations closer than this share of the shorter belong to one window."""
OVERRUN_SHARE = 0.1
"""Past an expected end by less than this share of it (or `initial`), the job is taken
for a slow one of the same kind and polled with a back-off from `initial`."""

WaitProgressFn = Callable[[float, float | None, str], Awaitable[None]]
"""(progress, total, message) -> None; `total` only when an estimate exists."""


@dataclass(frozen=True)
class PollSchedule:
    """When to poll a job, given how long like jobs took (see the module docstring).

    `initial`: the first delay when nothing is known, the spacing of polls where a job is
    expected to end, and the first delay past that; `maximum`: the longest gap between
    two polls; `factor`: how fast the delay grows back to `maximum` past the expected
    end; `margin`: how long after an expected end its poll comes.
    """

    initial: float = 1.0
    maximum: float = 5.0
    factor: float = 1.5
    margin: float = 0.1

    def backoff(self, since: float) -> float:
        """The delay `since` seconds into a back-off: initial, initial*factor, ... up to
        maximum, as a function of time (initial + (factor-1) * since, capped)."""
        return min(self.maximum, self.initial + (self.factor - 1) * max(0.0, since))

    def windows(self, expected: Iterable[float]) -> list[tuple[float, float]]:
        """Where jobs are expected to end: recent durations close together (no more than a
        quarter of the shorter, or `initial`, apart: run times scatter in proportion to
        their length) form one window, from the shortest to the longest (+ `margin`)."""
        windows: list[tuple[float, float]] = []
        for end in sorted(e + self.margin for e in expected if e >= 0):
            if windows and end - windows[-1][1] <= max(
                self.initial, WINDOW_GAP_SHARE * windows[-1][1]
            ):
                windows[-1] = (windows[-1][0], end)
            else:
                windows.append((end, end))
        return windows

    def grid(self, window: tuple[float, float]) -> list[float]:
        """Poll times across a window: both ends, evenly spaced at most `initial` apart."""
        low, high = window
        steps = math.ceil((high - low) / self.initial - 1e-9)
        if steps <= 0:
            return [low]
        return [low + (high - low) * k / steps for k in range(steps + 1)]

    def next_poll(self, last: float, expected: Sequence[float] = ()) -> float:
        """The job age (seconds) at which to poll next, the last poll (or the submission's
        answer) having been at age `last`, when recent jobs of the model took `expected`."""
        windows = self.windows(expected)
        if not windows:  # nothing known: once soon (a refused job), then every `maximum`
            return self.initial if last < self.initial - 1e-6 else last + self.maximum
        passed = [high for _, high in windows if high <= last + 1e-6]
        ahead = [(low, high) for low, high in windows if high > last + 1e-6]
        overrun: float | None = None
        if passed and last - passed[-1] < max(self.initial, OVERRUN_SHARE * passed[-1]) - 1e-6:
            # a little slower than the slowest like job: back off from there
            overrun = last + self.backoff(last - passed[-1])
        if not ahead:  # past every expected end; far past: a job of another kind
            return overrun if overrun is not None else last + self.maximum
        low, high = ahead[0]
        if low <= last + 1e-6:  # inside a window
            return next(at for at in self.grid((low, high)) if at > last + 1e-6)
        gap = low - last  # before a window: guard polls, evenly spread up to it
        guard = last + gap / math.ceil(gap / self.maximum - 1e-9)
        return min(guard, overrun) if overrun is not None else guard


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
        sink: WaitProgressFn | None,
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
            total = None  # past the estimate, the job is as far as it goes: the bar full,
            if self._estimate is not None:  # not dropped (the last report keeps `total`)
                total = max(round(self._estimate, 1), value)
            self.last_sent_at = self._clock()
            await self._sink(value, total, progress_message(self.status, elapsed))


@dataclass(frozen=True)
class WaitSpec:
    """How one wait runs: how long, on which clock, when to poll, what is known of the job."""

    budget: float
    """Seconds this wait may take."""
    started_at: float
    """The `clock()` time of submission (elapsed time is counted from it)."""
    schedule: PollSchedule
    heartbeat: float
    """Seconds between progress reports when nothing changes."""
    origin: float | None = None
    """The `clock()` time the job's age counts from for the schedule (when Atlas created
    it, as near as known; default `started_at`)."""
    estimate: float | None = None
    """The expected run time: the progress `total`."""
    durations: ModelDurations | None = None
    """The model's recent run times: they shape the schedule, and this job's is added
    when it completes."""
    clock: Callable[[], float] = time.monotonic


class _Wait:
    """The state one `wait_for_prediction` shares between its poll loop and heartbeat."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[Prediction]],
        spec: WaitSpec,
        reporter: _Reporter,
        initial: Prediction | None,
        on_update: Callable[[Prediction], Awaitable[None]] | None,
    ) -> None:
        self.fetch, self.spec, self.reporter, self.on_update = fetch, spec, reporter, on_update
        self.last: Prediction | None = initial
        self.poll_error: AtlasError | None = None
        self.finished = False
        self.born = spec.started_at if spec.origin is None else spec.origin
        self.polled_at = -math.inf
        """The job's age at the last poll (or the submission's answer)."""
        self.running_at = -math.inf
        """The job's age at the last poll that found it running."""

    def age(self) -> float:
        return self.spec.clock() - self.born

    async def heartbeat(self) -> None:
        """Report progress whenever nothing was reported for `spec.heartbeat` seconds."""
        clock, every, reporter = self.spec.clock, self.spec.heartbeat, self.reporter
        while True:
            await anyio.sleep(max(0.0, reporter.last_sent_at + every - clock()))
            if clock() - reporter.last_sent_at >= every:
                await reporter.report()

    async def until_next_poll(self, after: float) -> None:
        """Sleep until the schedule's next poll; a new duration of the model replans."""
        durations = self.spec.durations
        while True:
            expected = durations.durations() if durations is not None else ()
            delay = self.spec.schedule.next_poll(after, expected) - self.age()
            if delay <= 0:
                return
            if durations is None:
                await anyio.sleep(delay)
                return
            changed = durations.changed()
            with anyio.move_on_after(delay):
                await changed.wait()
                continue  # a sibling job ended: plan again with what it tells
            return

    async def poll(self) -> None:
        """Poll on the schedule until the job ends (the caller's scope bounds the wait)."""
        self.polled_at = self.age()  # the submission's answer (or nothing: poll at once)
        self.running_at = self.polled_at
        if self.last is None:
            self.polled_at = -math.inf
        while True:
            if self.polled_at > -math.inf:
                await self.until_next_poll(self.polled_at)
            self.polled_at = self.age()
            try:
                prediction = await self.fetch()
            except AtlasError as exc:
                self.poll_error = exc
                logger.warning("poll failed, will try again: %s", exc)
                continue
            self.poll_error = None
            changed = self.last is None or prediction.status != self.last.status
            self.last = prediction
            if prediction.state == "processing":
                self.running_at = self.polled_at
            if changed:
                if self.on_update is not None:
                    await self.on_update(prediction)
                self.reporter.status = prediction.status
                await self.reporter.report()
                if prediction.state != "processing":
                    self.finished = True
                    return

    def record_duration(self) -> None:
        """A completed job's run time joins its model's recent ones: Atlas's own
        timestamps when it sent them, else the middle of the last two polls."""
        last, durations = self.last, self.spec.durations
        if not self.finished or last is None or last.state != "completed":
            return
        if durations is not None:
            seconds = run_time(last)
            midpoint = (self.running_at + self.polled_at) / 2
            durations.add(seconds if seconds is not None else midpoint)


async def wait_for_prediction(
    fetch: Callable[[], Awaitable[Prediction]],
    spec: WaitSpec,
    *,
    on_progress: WaitProgressFn | None = None,
    on_update: Callable[[Prediction], Awaitable[None]] | None = None,
    initial: Prediction | None = None,
    stop: anyio.Event | None = None,
) -> WaitOutcome:
    """Poll `fetch()` until the job ends or `spec.budget` seconds pass.

    `initial` is the state already known (the submission's answer): only changes from it
    count as status changes, and the first poll waits for the schedule (without it, the
    first poll is at once). `on_update` sees every poll result whose status changed.
    A poll that fails (after the client's own retries) does not end the wait: the next
    scheduled poll tries again; the last error is kept in the outcome.
    `stop`, once set, ends the wait like the budget running out (server shutdown).
    """
    reporter = _Reporter(on_progress, spec.started_at, spec.estimate, spec.clock)
    if initial is not None:
        reporter.status = initial.status
    wait = _Wait(fetch, spec, reporter, initial, on_update)
    async with anyio.create_task_group() as tg:
        await reporter.report()
        if on_progress is not None:  # without a sink, a report sends nothing: no heartbeat
            tg.start_soon(wait.heartbeat)
        with anyio.move_on_after(spec.budget) as waiting:
            if stop is not None:
                tg.start_soon(_cancel_when_set, stop, waiting)
            await wait.poll()
        tg.cancel_scope.cancel()  # no notification may follow the result
    wait.record_duration()
    return WaitOutcome(
        prediction=wait.last,
        timed_out=not wait.finished,
        elapsed=reporter.elapsed(),
        poll_error=wait.poll_error,
        stopped=not wait.finished and stop is not None and stop.is_set(),
    )


async def _cancel_when_set(event: anyio.Event, scope: anyio.CancelScope) -> None:
    await event.wait()
    scope.cancel()
