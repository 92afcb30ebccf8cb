"""wait_for_prediction: schedule, status-change and heartbeat progress, budget, errors."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from atlas_mcp_py.atlas.models import Prediction
from atlas_mcp_py.errors import ServerError
from atlas_mcp_py.jobs.durations import ModelDurations, run_time
from atlas_mcp_py.jobs.wait import PollSchedule, WaitSpec, progress_message, wait_for_prediction

pytestmark = pytest.mark.anyio

FAST = PollSchedule(initial=0.01, maximum=0.02)


def spec(budget: float, **fields: Any) -> WaitSpec:
    """A wait of `budget` seconds starting now (anyio.current_time()), polling FAST;
    `fields` set or replace any other part."""
    values: dict[str, Any] = {
        "started_at": anyio.current_time(),
        "schedule": FAST,
        **fields,
    }
    return WaitSpec(budget=budget, **values)


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


def test_the_back_off_grows_by_factor_up_to_the_maximum() -> None:
    schedule = PollSchedule(1.0, 5.0, 1.5)
    delays, since = [], 0.0
    for _ in range(7):
        delays.append(schedule.backoff(since))
        since += delays[-1]
    assert delays == [1.0, 1.5, 2.25, 3.375, 5.0, 5.0, 5.0]


def test_the_progress_message_names_the_status_and_the_elapsed_seconds() -> None:
    assert progress_message("processing", 42.7) == "Atlas: processing · 42 s"


async def test_every_status_change_is_reported_once_and_progress_strictly_increases() -> None:
    fetch, calls = scripted("queued", "queued", "processing", "processing", "completed")
    sink, seen = recorder()
    outcome = await wait_for_prediction(
        fetch,
        spec(5, heartbeat=10, clock=anyio.current_time),
        on_progress=sink,
        initial=Prediction(id="p1", status="created"),
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
        spec(0.5, heartbeat=0.05, clock=anyio.current_time),
        on_progress=sink,
    )
    assert outcome.timed_out and outcome.prediction is None
    assert len(seen) >= 4  # the first report, then heartbeats although no poll ever answered
    assert all(b[0] > a[0] for a, b in itertools.pairwise(seen))


async def test_no_progress_is_sent_after_the_wait_returns() -> None:
    fetch, _ = scripted("processing", "completed")
    sink, seen = recorder()
    await wait_for_prediction(
        fetch,
        spec(5, heartbeat=0.01, clock=anyio.current_time),
        on_progress=sink,
    )
    count = len(seen)
    await anyio.sleep(0.1)  # ten heartbeat periods
    assert len(seen) == count


async def test_the_budget_ends_the_wait_with_the_last_status_seen() -> None:
    fetch, calls = scripted("processing")
    outcome = await wait_for_prediction(fetch, spec(0.1, heartbeat=10))
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

    outcome = await wait_for_prediction(flaky, spec(5, heartbeat=10))
    assert outcome.finished and outcome.poll_error is None
    assert attempts == 3

    async def broken() -> Prediction:
        raise ServerError(503, "down")

    outcome = await wait_for_prediction(broken, spec(0.1, heartbeat=10))
    assert outcome.timed_out and isinstance(outcome.poll_error, ServerError)


async def test_cancelling_the_caller_stops_polling_at_once() -> None:
    fetch, calls = scripted("processing")
    with anyio.move_on_after(0.1):
        await wait_for_prediction(fetch, spec(60, heartbeat=10))
    count = len(calls)
    await anyio.sleep(0.1)
    assert len(calls) == count


async def test_total_is_sent_whenever_an_estimate_exists_and_never_below_progress() -> None:
    """Past the estimate `total` is the progress itself (a full bar), never dropped: a
    client shows the last notification, the one for the finished job, as complete."""
    fetch, _ = scripted("processing", "processing", "processing", "completed")
    sink, seen = recorder()
    await wait_for_prediction(
        fetch,
        spec(
            5,
            started_at=anyio.current_time() - 100,
            heartbeat=10,
            estimate=30.0,
            clock=anyio.current_time,
        ),
        on_progress=sink,
    )
    assert seen and all(total == value for value, total, _ in seen)  # 100 s > the estimate
    fetch, _ = scripted("processing", "completed")
    sink, seen = recorder()
    await wait_for_prediction(
        fetch,
        spec(5, heartbeat=10, estimate=30.0, clock=anyio.current_time),
        on_progress=sink,
    )
    assert all(total == 30.0 and value < total for value, total, _ in seen)


# -- the schedule: computed poll times, no clocks --------------------------------------


def poll_times(schedule: PollSchedule, expected: list[float], until: float) -> list[float]:
    """The job ages at which `schedule` polls a job still running at `until`."""
    times, last = [], 0.0
    while last < until:
        last = schedule.next_poll(last, expected)
        times.append(round(last, 3))
    return times


def test_with_nothing_known_one_poll_comes_soon_then_one_every_maximum() -> None:
    schedule = PollSchedule(1.0, 5.0, 1.5)
    assert poll_times(schedule, [], 20.0) == [1.0, 6.0, 11.0, 16.0, 21.0]


def test_a_job_like_the_recent_ones_is_polled_sparsely_then_right_after_its_expected_end() -> None:
    schedule = PollSchedule(1.0, 5.0, 1.5, margin=0.1)
    # guard polls evenly spread, none longer than 5 s apart, the last at 20 s + margin
    assert poll_times(schedule, [20.0, 20.0], 20.1) == [4.02, 8.04, 12.06, 16.08, 20.1]


def test_a_short_job_like_the_recent_ones_costs_two_polls() -> None:
    schedule = PollSchedule(1.0, 5.0, 1.5, margin=0.1)
    assert poll_times(schedule, [5.0, 5.0, 5.0], 5.1) == [2.55, 5.1]


def test_where_recent_jobs_ended_polls_are_at_most_initial_apart() -> None:
    schedule = PollSchedule(1.0, 5.0, 1.5, margin=0.1)
    times = poll_times(schedule, [18.0, 19.5, 21.0, 19.0], 21.1)
    dense = [t for t in times if t >= 18.1]
    assert dense[0] == 18.1 and dense[-1] == 21.1
    assert all(0 < b - a <= 1.0 for a, b in itertools.pairwise(dense))
    sparse = [0.0, *(t for t in times if t < 18.1), 18.1]
    assert len(sparse) == 5 and all(b - a > 4 for a, b in itertools.pairwise(sparse))


def test_a_job_a_little_slower_than_every_recent_one_backs_off_from_initial() -> None:
    schedule = PollSchedule(1.0, 5.0, 1.5, margin=0.1)
    times = poll_times(schedule, [60.0], 80.0)
    after = [t for t in times if t > 60.1]
    gaps = [round(b - a, 3) for a, b in itertools.pairwise([60.1, *after])]
    # backing off while within 10 % (6 s) of the expected end, then every 5 s
    assert gaps[:6] == [1.0, 1.5, 2.25, 3.375, 5.0, 5.0]


def test_a_job_far_slower_than_every_recent_one_is_polled_every_maximum() -> None:
    schedule = PollSchedule(1.0, 5.0, 1.5, margin=0.1)
    assert schedule.next_poll(5.1, [5.0]) == 6.1  # just past: soon
    assert schedule.next_poll(6.1, [5.0]) == 11.1  # past by more than `initial`: sparse


def test_a_job_just_past_one_window_is_polled_soon_before_guard_polls_to_the_next() -> None:
    schedule = PollSchedule(1.0, 5.0, 1.5, margin=0.1)
    times = poll_times(schedule, [20.0, 60.0], 60.1)
    after = [round(t, 3) for t in times if 20.1 < t < 60.1]
    assert after[:2] == [21.1, 22.6]  # within 2 s (10 %) of 20 s: a slow one of that kind
    assert all(round(b - a, 3) <= 5.0 for a, b in itertools.pairwise([*after, 60.1]))


def test_between_two_groups_of_durations_the_polls_stay_sparse() -> None:
    schedule = PollSchedule(1.0, 5.0, 1.5, margin=0.1)
    times = poll_times(schedule, [5.0, 60.0], 60.1)
    assert times[:2] == [2.55, 5.1] and times[-1] == 60.1
    between = [5.1, *(t for t in times if 5.1 < t < 60.1), 60.1]
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(between)]
    assert gaps[0] == 1.0  # just past 5 s: a slow job of that kind?
    assert all(4.9 < gap <= 5.0 for gap in gaps[1:])  # then evenly, sparsely


def test_the_gap_between_two_polls_never_exceeds_maximum() -> None:
    schedule = PollSchedule(1.0, 5.0, 1.5)
    for expected in ([], [3.0], [7.0, 8.0], [5.0, 20.0, 60.0], [100.0], [0.2, 0.3]):
        times = poll_times(schedule, expected, 120.0)
        assert all(0 < b - a <= 5.0 + 1e-9 for a, b in itertools.pairwise([0.0, *times]))


def test_jobs_like_recent_ones_are_seen_within_initial_at_under_one_poll_per_two_seconds() -> None:
    """The design's promise, on computed delays: after jobs of about 5 s, 20 s and 60 s
    (±10 %) on one model, the next ones ending in that spread are seen within `initial`
    (+ margin) and cost fewer than one poll per 2 s of their run time on average."""
    schedule = PollSchedule(1.0, 5.0, 1.5, margin=0.1)
    expected = [n * f for n in (5.0, 20.0, 60.0) for f in (0.9, 0.97, 1.02, 1.1)]
    latencies, rates = [], []
    for n in (5.0, 20.0, 60.0):
        for k in range(21):
            ends = n * (0.9 + 0.01 * k)
            times = poll_times(schedule, expected, ends)
            latencies.append(times[-1] - ends)
            rates.append(2 * len(times) / ends)
    assert max(latencies) <= 1.1 + 1e-9
    assert sum(rates) / len(rates) < 1.0


# -- the wait: when the first poll comes, what a sibling's end does, what is learnt ----


async def test_with_the_submission_answer_known_the_first_poll_waits_for_the_schedule() -> None:
    fetch, calls = scripted("processing")
    outcome = await wait_for_prediction(
        fetch,
        spec(0.2, schedule=PollSchedule(30.0, 30.0), heartbeat=10),
        initial=Prediction(id="p1", status="created"),
    )
    assert outcome.timed_out and calls == []


async def test_a_sibling_job_ending_replans_a_sleeping_wait() -> None:
    fetch, calls = scripted("completed")
    durations = ModelDurations()

    async def sibling_ends() -> None:
        await anyio.sleep(0.05)
        durations.add(0.01)  # a job of the same model took 0.01 s: this one is overdue

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(sibling_ends)
            outcome = await wait_for_prediction(
                fetch,
                spec(5, schedule=PollSchedule(30.0, 30.0), heartbeat=10, durations=durations),
                initial=Prediction(id="p1", status="processing"),
            )
    assert outcome.finished and calls == ["completed"]


async def test_a_completed_job_teaches_its_run_time_by_atlas_timestamps() -> None:
    done = Prediction(
        id="p1",
        status="completed",
        outputs=["https://cdn.example/v.mp4"],
        created_at="2026-01-02T03:04:05.000Z",
        completed_at="2026-01-02T03:04:17.500Z",
    )

    async def fetch() -> Prediction:
        return done

    durations = ModelDurations()
    await wait_for_prediction(
        fetch,
        spec(5, heartbeat=10, durations=durations),
    )
    assert durations.durations() == [12.5]
    assert run_time(done) == 12.5


async def test_a_failed_job_teaches_nothing() -> None:
    fetch, _ = scripted("processing", "failed")
    durations = ModelDurations()
    outcome = await wait_for_prediction(
        fetch,
        spec(5, heartbeat=10, durations=durations),
    )
    assert outcome.finished and durations.durations() == []


async def test_without_atlas_timestamps_the_run_time_is_between_the_last_two_polls() -> None:
    fetch, calls = scripted("processing", "processing", "completed")
    durations = ModelDurations()
    await wait_for_prediction(
        fetch,
        spec(5, heartbeat=10, durations=durations),
    )
    (learnt,) = durations.durations()
    assert len(calls) == 3 and 0 < learnt < 5


async def test_a_wait_without_progress_sink_does_not_spin() -> None:
    """With nobody to tell, the heartbeat has nothing to send and must not busy-loop
    (it once did: every client without a progress token cost a full core)."""
    reads = 0

    def clock() -> float:
        nonlocal reads
        reads += 1
        return anyio.current_time()

    fetch, _ = scripted("processing")
    outcome = await wait_for_prediction(
        fetch,
        spec(0.3, schedule=PollSchedule(0.1, 0.1), heartbeat=0.05, clock=clock),
        initial=Prediction(id="p1", status="processing"),
    )
    assert outcome.timed_out
    assert reads < 100  # a few per poll; a spinning heartbeat reads it tens of thousands


def test_run_times_far_apart_for_their_length_make_separate_windows() -> None:
    schedule = PollSchedule(1.0, 5.0, 1.5, margin=0.1)
    # 4 s and 8 s jobs are two kinds: no dense polls from 4 s to 8 s
    assert schedule.windows([4.0, 8.0]) == [(4.1, 4.1), (8.1, 8.1)]
    # a scatter of 54-66 s is one kind: one window across it
    assert schedule.windows([54.0, 58.0, 62.0, 66.0]) == [(54.1, 66.1)]
