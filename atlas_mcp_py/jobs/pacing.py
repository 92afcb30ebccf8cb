"""How many paid jobs run at once: the in-flight limit and its queue."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

__all__ = [
    "InFlightLimit",
    "QueueFn",
]

QueueFn = Callable[[int], Awaitable[None]]
"""Called with the number of calls ahead while a call waits for a slot."""

QUEUE_REPORT_EVERY_SECONDS = 1.0
"""A waiter hears of a new place in the queue at most this often."""


@dataclass
class _Waiter:
    granted: anyio.Event


class InFlightLimit:
    """At most `limit` holders at once; the others wait in arrival order."""

    def __init__(
        self,
        limit: int,
        *,
        heartbeat: float = 5.0,
        report_every: float = QUEUE_REPORT_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.heartbeat = heartbeat
        self.report_every = report_every
        self._clock = clock
        self._holders = 0
        self._queue: deque[_Waiter] = deque()
        self._changed = anyio.Event()

    @property
    def in_flight(self) -> int:
        return self._holders

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    def _release(self) -> None:
        if self._queue:
            self._queue.popleft().granted.set()  # the slot passes straight on
        else:
            self._holders -= 1
        self._notify()

    async def acquire(self, on_wait: QueueFn | None = None) -> Callable[[], None]:
        """Wait for a slot; returns the function that gives it back (call it once)."""
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._release()

        if self._holders < self.limit and not self._queue:
            self._holders += 1
            return release
        me = _Waiter(anyio.Event())
        self._queue.append(me)
        self._notify()
        told: int | None = None
        told_at = -math.inf
        try:
            while not me.granted.is_set():
                ahead = self._queue.index(me)
                now = self._clock()
                if on_wait is not None and ahead != told:  # a new place, or a heartbeat
                    if told is None or now - told_at >= self.report_every:
                        told, told_at = ahead, now
                        await on_wait(ahead)
                        continue
                    # told too recently: sleep until due, woken only by the slot itself,
                    # not by every move of the queue (100 waiters x 100 moves)
                    with anyio.move_on_after(told_at + self.report_every - now):
                        await me.granted.wait()
                    continue
                changed = self._changed  # no await since the check: no change is missed
                if on_wait is None:
                    await me.granted.wait()  # nobody to tell: wait for the slot only
                else:
                    with anyio.move_on_after(max(0.0, told_at + self.heartbeat - now)):
                        await changed.wait()
                    if self._clock() - told_at >= self.heartbeat:
                        told = None
        except BaseException:
            if me.granted.is_set():
                release()  # granted while being cancelled: pass it on
            else:
                self._queue.remove(me)
                self._notify()
            raise
        return release

    @asynccontextmanager
    async def slot(self, on_wait: QueueFn | None = None) -> AsyncIterator[None]:
        release = await self.acquire(on_wait)
        try:
            yield
        finally:
            release()
