"""wait_for_prediction: schedule, status-change and heartbeat progress, budget, errors."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable

import anyio
import pytest

from atlas_mcp_py.errors import ServerError
from atlas_mcp_py.models import Prediction
from atlas_mcp_py.polling import PollSchedule, progress_message, wait_for_prediction

pytestmark = pytest.mark.anyio

FAST = PollSchedule(initial=0.01, maximum=0.02)
Progress = list[tuple[float, float | None, str]]


def scripted(*statuses: str) -> tuple[Callable[[], Awaitable[Prediction]], list[str]]:
    """A fetch function that answers the given statuses in order, then repeats the last."""
    calls: list[str] = []
    it = iter(statuses)
    last = statuses[-1]

    async def fetch() -> Prediction:
        nonlocal last
        last = next(it, last)
        calls.append(last)
        outputs = ["https://cdn.example/v.mp4"] if last == "completed" else []
        return Prediction(id="p1", status=last, outputs=outputs)

    return fetch, calls


def recorder() -> tuple[Callable[[float, float | None, str], Awaitable[None]], Progress]:
    seen: Progress = []

    async def sink(progress: float, total: float | None, message: str) -> None:
        seen.append((progress, total, message))

    return sink, seen


def test_the_schedule_starts_fast_and_backs_off_to_the_maximum() -> None:
    delays = list(itertools.islice(PollSchedule(1.0, 5.0, 1.5).delays(), 7))
    assert delays[0] == 1.0
    assert all(b >= a for a, b in itertools.pairwise(delays))
    assert delays[-1] == 5.0


def test_the_progress_message_names_the_status_and_the_elapsed_seconds() -> None:
    assert progress_message("processing", 42.7) == "Atlas: processing · 42 s"


async def test_every_status_change_is_reported_once_and_progress_strictly_increases() -> None:
    fetch, calls = scripted("queued", "queued", "processing", "processing", "completed")
    sink, seen = recorder()
    outcome = await wait_for_prediction(
        fetch,
        budget=5,
        started_at=anyio.current_time(),
        schedule=FAST,
        heartbeat=10,
        on_progress=sink,
        initial=Prediction(id="p1", status="created"),
        clock=anyio.current_time,
    )
    assert outcome.finished and not outcome.timed_out
    assert outcome.prediction is not None and outcome.prediction.status == "completed"
    statuses = [message.split(" · ")[0] for _, _, message in seen]
    assert statuses == ["Atlas: created", "Atlas: queued", "Atlas: processing", "Atlas: completed"]
    values = [value for value, _, _ in seen]
    assert all(b > a for a, b in itertools.pairwise(values))
    assert calls[-1] == "completed"


async def test_a_heartbeat_is_sent_while_a_poll_hangs() -> None:
    async def hanging() -> Prediction:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    sink, seen = recorder()
    outcome = await wait_for_prediction(
        hanging,
        budget=0.5,
        started_at=anyio.current_time(),
        schedule=FAST,
        heartbeat=0.05,
        on_progress=sink,
        clock=anyio.current_time,
    )
    assert outcome.timed_out and outcome.prediction is None
    assert len(seen) >= 4  # the first report, then heartbeats although no poll ever answered
    assert all(b[0] > a[0] for a, b in itertools.pairwise(seen))


async def test_no_progress_is_sent_after_the_wait_returns() -> None:
    fetch, _ = scripted("processing", "completed")
    sink, seen = recorder()
    await wait_for_prediction(
        fetch,
        budget=5,
        started_at=anyio.current_time(),
        schedule=FAST,
        heartbeat=0.01,
        on_progress=sink,
        clock=anyio.current_time,
    )
    count = len(seen)
    await anyio.sleep(0.1)  # ten heartbeat periods
    assert len(seen) == count


async def test_the_budget_ends_the_wait_with_the_last_status_seen() -> None:
    fetch, calls = scripted("processing")
    outcome = await wait_for_prediction(
        fetch, budget=0.1, started_at=anyio.current_time(), schedule=FAST, heartbeat=10
    )
    assert outcome.timed_out
    assert outcome.prediction is not None and outcome.prediction.status == "processing"
    assert len(calls) >= 2


async def test_a_failing_poll_does_not_end_the_wait_and_the_error_is_kept() -> None:
    attempts = 0

    async def flaky() -> Prediction:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ServerError(503, "busy")
        return Prediction(id="p1", status="succeeded", outputs=["https://cdn.example/v.mp4"])

    outcome = await wait_for_prediction(
        flaky, budget=5, started_at=anyio.current_time(), schedule=FAST, heartbeat=10
    )
    assert outcome.finished and outcome.poll_error is None
    assert attempts == 3

    async def broken() -> Prediction:
        raise ServerError(503, "down")

    outcome = await wait_for_prediction(
        broken, budget=0.1, started_at=anyio.current_time(), schedule=FAST, heartbeat=10
    )
    assert outcome.timed_out and isinstance(outcome.poll_error, ServerError)


async def test_cancelling_the_caller_stops_polling_at_once() -> None:
    fetch, calls = scripted("processing")
    with anyio.move_on_after(0.1):
        await wait_for_prediction(
            fetch, budget=60, started_at=anyio.current_time(), schedule=FAST, heartbeat=10
        )
    count = len(calls)
    await anyio.sleep(0.1)
    assert len(calls) == count


async def test_total_is_sent_only_while_an_estimate_exists_and_is_not_exceeded() -> None:
    fetch, _ = scripted("processing", "processing", "processing", "completed")
    sink, seen = recorder()
    await wait_for_prediction(
        fetch,
        budget=5,
        started_at=anyio.current_time() - 100,
        schedule=FAST,
        heartbeat=10,
        on_progress=sink,
        estimate=30.0,
        clock=anyio.current_time,
    )
    assert seen and all(total is None for _, total, _ in seen)  # 100 s elapsed > the estimate
    fetch, _ = scripted("processing", "completed")
    sink, seen = recorder()
    await wait_for_prediction(
        fetch,
        budget=5,
        started_at=anyio.current_time(),
        schedule=FAST,
        heartbeat=10,
        on_progress=sink,
        estimate=30.0,
        clock=anyio.current_time,
    )
    assert all(total == 30.0 and value < total for value, total, _ in seen)
