"""Pacing: the in-flight limit with its local queue, and the server-wide 429 cooldown."""

from __future__ import annotations

import time

import anyio
import httpx2
import pytest

from atlas_mcp_py.atlas.transport import Cooldown, CooldownTransport
from atlas_mcp_py.jobs.pacing import InFlightLimit

pytestmark = pytest.mark.anyio


async def test_calls_beyond_the_limit_wait_in_arrival_order_and_hear_their_place() -> None:
    limit = InFlightLimit(2, heartbeat=10, report_every=0)
    order: list[str] = []
    heard: dict[str, list[int]] = {"c": [], "d": []}
    releases = [await limit.acquire(), await limit.acquire()]
    assert limit.in_flight == 2

    async def queued(name: str) -> None:
        async def on_wait(ahead: int) -> None:
            heard[name].append(ahead)

        release = await limit.acquire(on_wait)
        order.append(name)
        release()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(queued, "c")
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(queued, "d")
            await anyio.wait_all_tasks_blocked()
            assert limit.waiting == 2 and order == []
            releases.pop()()
            await anyio.wait_all_tasks_blocked()
            assert order == ["c", "d"]  # c went, released, and d followed
            releases.pop()()
    assert heard["c"] == [0]
    assert heard["d"][0] == 1 and heard["d"][-1] == 0  # moved up when c got its slot
    assert limit.in_flight == 0 and limit.waiting == 0


async def test_a_long_queue_moving_fast_tells_each_waiter_its_place_once() -> None:
    limit = InFlightLimit(1, heartbeat=60, report_every=60)
    release = await limit.acquire()
    heard: dict[int, list[int]] = {n: [] for n in range(5)}

    async def queued(n: int) -> None:
        async def on_wait(ahead: int) -> None:
            heard[n].append(ahead)

        (await limit.acquire(on_wait))()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for n in range(5):
                tg.start_soon(queued, n)
                await anyio.wait_all_tasks_blocked()
            assert limit.waiting == 5
            release()  # the queue drains at once: every place changes four times at most
    assert heard == {n: [n] for n in range(5)}


async def test_a_new_place_heard_too_soon_is_told_when_due_without_another_move() -> None:
    limit = InFlightLimit(1, heartbeat=60, report_every=0.05)
    release = await limit.acquire()
    heard: list[int] = []
    told_again = anyio.Event()

    async def on_wait(ahead: int) -> None:
        heard.append(ahead)
        if len(heard) == 2:
            told_again.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(limit.acquire)  # first in line, keeps its slot
            await anyio.wait_all_tasks_blocked()
            second = anyio.CancelScope()

            async def waits() -> None:
                with second:
                    await limit.acquire(on_wait)

            tg.start_soon(waits)
            await anyio.wait_all_tasks_blocked()
            release()  # the first gets the slot: the second is now 0 ahead
            await told_again.wait()  # no other move happens: the throttle itself told it
            assert heard == [1, 0]
            second.cancel()
            tg.cancel_scope.cancel()


async def test_a_waiter_is_told_its_place_again_every_heartbeat() -> None:
    limit = InFlightLimit(1, heartbeat=0.05)
    release = await limit.acquire()
    heard: list[int] = []

    async def on_wait(ahead: int) -> None:
        heard.append(ahead)

    with anyio.move_on_after(0.3):
        await limit.acquire(on_wait)
    assert len(heard) >= 3 and set(heard) == {0}
    release()
    assert limit.in_flight == 0


async def test_a_cancelled_waiter_leaves_the_queue_and_the_slot_moves_on() -> None:
    limit = InFlightLimit(1)
    release = await limit.acquire()
    got: list[str] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            gone = anyio.CancelScope()

            async def leaves() -> None:
                with gone:
                    await limit.acquire()
                    got.append("never")

            tg.start_soon(leaves)
            await anyio.wait_all_tasks_blocked()

            async def stays() -> None:
                (await limit.acquire())()
                got.append("stays")

            tg.start_soon(stays)
            await anyio.wait_all_tasks_blocked()
            assert limit.waiting == 2
            gone.cancel()
            await anyio.wait_all_tasks_blocked()
            assert limit.waiting == 1
            release()
    assert got == ["stays"]
    assert limit.in_flight == 0


async def test_releasing_twice_frees_one_slot_only() -> None:
    limit = InFlightLimit(1)
    release = await limit.acquire()
    release()
    release()
    assert limit.in_flight == 0
    again = await limit.acquire()
    assert limit.in_flight == 1
    again()


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        InFlightLimit(0)


def test_the_cooldown_follows_retry_after_else_doubles_and_resets_on_an_answer() -> None:
    now = [100.0]
    cooldown = Cooldown(base=1.0, cap=30.0, clock=lambda: now[0])
    assert cooldown.remaining("api") == 0
    assert cooldown.rate_limited("api", 5.0) == 5.0
    assert cooldown.remaining("api") == 5.0 and cooldown.remaining("cdn") == 0
    assert cooldown.rate_limited("api", None) == 2.0  # second strike, no hint: base * 2
    assert cooldown.remaining("api") == 5.0  # never shortened
    assert cooldown.rate_limited("api", None) == 4.0
    assert cooldown.rate_limited("api", 999.0) == 30.0  # capped
    cooldown.answered("api")
    now[0] += 60
    assert cooldown.rate_limited("api", None) == 1.0  # the backoff starts over


async def test_after_a_429_every_request_to_that_host_waits_and_others_do_not() -> None:
    sent: list[tuple[str, float]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append((f"{request.url.host}{request.url.path}", time.monotonic()))
        if request.url.path == "/limited":
            return httpx2.Response(429, headers={"Retry-After": "0.4"})
        return httpx2.Response(200, json={"ok": True})

    transport = CooldownTransport(httpx2.MockTransport(handler), Cooldown())
    async with httpx2.AsyncClient(transport=transport) as http:
        assert (await http.get("https://api.example/limited")).status_code == 429
        with anyio.fail_after(5):
            await http.get("https://cdn.example/video.mp4")
            await http.get("https://api.example/prediction/1")
    (_, limited_at), (cdn, cdn_at), (api, api_at) = sent
    assert cdn == "cdn.example/video.mp4" and cdn_at - limited_at < 0.3
    assert api == "api.example/prediction/1" and api_at - limited_at >= 0.38
