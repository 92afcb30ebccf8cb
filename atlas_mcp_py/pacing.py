"""Pacing: a limit on generate requests being sent at once, and a server-wide cooldown
after a 429.

`InFlightLimit` hands out at most N slots, first come first served; the submitter holds
one while a generate request is sent (frame uploads and the POST), not while the job
runs: a waiting job costs Atlas a poll every few seconds, and a 429 slows every request
anyway (below). A call that has to wait is told how many are ahead of it (when its place
changes, at most once per `report_every` seconds, and at least every `heartbeat`
seconds), so the tool can send "queued locally, 2 ahead" as progress instead of failing.
The throttle matters with many calls: a queue of 100 moves 100 times, and telling every
waiter each move was most of the server's progress notifications.

`CooldownTransport` wraps the HTTP transport every Atlas request goes through. A 429
from a host starts a cooldown for that host (its `Retry-After`, else a backoff that
doubles with every further 429 and resets on the next other answer), and every later
request to that host waits it out before it is sent: one rate-limited poll slows the
whole server, not only the call that saw it. The wait happens before anything is sent,
so a generate POST that waits is still provably unsent.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx2

from atlas_mcp_py.client import LazyHTTPTransport, parse_retry_after

__all__ = ["Cooldown", "CooldownTransport", "InFlightLimit", "QueueFn", "paced_transport"]

logger = logging.getLogger(__name__)

QueueFn = Callable[[int], Awaitable[None]]
"""Called with the number of calls ahead while a call waits for a slot."""

QUEUE_REPORT_EVERY_SECONDS = 1.0
"""A waiter hears of a new place in the queue at most this often."""
COOLDOWN_BASE_SECONDS = 1.0
COOLDOWN_CAP_SECONDS = 30.0


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


class Cooldown:
    """Per-host "not before" times after a 429."""

    def __init__(
        self,
        *,
        base: float = COOLDOWN_BASE_SECONDS,
        cap: float = COOLDOWN_CAP_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base = base
        self.cap = cap
        self._clock = clock
        self._until: dict[str, float] = {}
        self._strikes: dict[str, int] = {}

    def remaining(self, host: str) -> float:
        return max(0.0, self._until.get(host, 0.0) - self._clock())

    def rate_limited(self, host: str, retry_after: float | None) -> float:
        """Note a 429 from `host`; returns the cooldown it started (seconds)."""
        strikes = self._strikes.get(host, 0)
        self._strikes[host] = strikes + 1
        if retry_after is None:
            retry_after = self.base * 2.0**strikes
        delay = min(max(retry_after, 0.0), self.cap)
        self._until[host] = max(self._until.get(host, 0.0), self._clock() + delay)
        logger.warning("Atlas rate limit (429) from %s: slowing down for %.1f s", host, delay)
        return delay

    def answered(self, host: str) -> None:
        """An answer other than 429: the backoff starts over next time."""
        self._strikes.pop(host, None)

    async def wait(self, host: str) -> None:
        """Sleep out the host's cooldown (a later 429 may extend it meanwhile)."""
        delay = self.remaining(host)
        while delay > 0:
            await anyio.sleep(delay)
            delay = self.remaining(host)


class CooldownTransport(httpx2.AsyncBaseTransport):
    """Wraps a transport: waits out the host's cooldown before sending, notes 429s."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, cooldown: Cooldown) -> None:
        self.inner = inner
        self.cooldown = cooldown

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        host = request.url.host
        await self.cooldown.wait(host)
        response = await self.inner.handle_async_request(request)
        if response.status_code == 429:
            self.cooldown.rate_limited(host, parse_retry_after(response.headers.get("retry-after")))
        else:
            self.cooldown.answered(host)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def paced_transport(inner: httpx2.AsyncBaseTransport | None = None) -> CooldownTransport:
    """The transport of a server's AtlasClient: `inner` (default: the client's own lazily
    built transport, environment proxies honoured) behind a fresh cooldown."""
    return CooldownTransport(inner or LazyHTTPTransport(), Cooldown())
