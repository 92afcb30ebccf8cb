"""How long a model's jobs take: what the ledger teaches, what a wait adds, what is kept."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from atlas_mcp_py.atlas.models import Prediction
from atlas_mcp_py.jobs.durations import DurationHistory, ModelDurations, durations_from_ledger
from atlas_mcp_py.jobs.ledger import Ledger

API = "https://api.atlascloud.ai"


def finished_job(
    ledger: Ledger,
    seconds: float,
    *,
    model: str = "m/video",
    api_root: str = API,
    status: str = "completed",
    submitted_here: bool = True,
) -> None:
    """A job that took `seconds`: created that long ago, seen completing now."""
    row = ledger.add(
        model=model,
        api_root=api_root,
        params={"prompt": "x"},
        params_hash="h" if submitted_here else "",
        created_at=time.time() - seconds,
    )
    prediction = Prediction(id=f"p{row.ref}", model=model, status=status)
    ledger.attach(row.ref, prediction)


def read(path: Path, api_root: str = API) -> dict[str, list[float]]:
    with Ledger.open(path) as ledger:
        return durations_from_ledger(ledger.recent(200, state="completed"), api_root)


def test_the_ledger_gives_each_models_run_times(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with Ledger.open(path) as ledger:
        for seconds in (40.0, 50.0, 60.0):
            finished_job(ledger, seconds)
        finished_job(ledger, 8.0, model="m/fast")
    found = read(path)
    assert sorted(found) == ["m/fast", "m/video"]
    assert sorted(round(s) for s in found["m/video"]) == [40, 50, 60]
    assert [round(s) for s in found["m/fast"]] == [8]


def test_other_apis_failed_jobs_and_jobs_only_checked_here_teach_nothing(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with Ledger.open(path) as ledger:
        finished_job(ledger, 30.0, api_root="http://127.0.0.1:9100")
        finished_job(ledger, 30.0, status="failed")
        finished_job(ledger, 30.0, submitted_here=False)
    assert read(path) == {}
    assert list(read(path, "http://127.0.0.1:9100")) == ["m/video"]


def test_a_job_checked_long_after_it_ended_is_not_taken_for_its_run_time(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with Ledger.open(path) as ledger:
        for seconds in (40.0, 45.0, 50.0):
            finished_job(ledger, seconds)
        finished_job(ledger, 900.0)  # handed off, then checked a quarter of an hour later
        finished_job(ledger, 4000.0)  # over an hour: never a run time
    assert sorted(round(s) for s in read(path)["m/video"]) == [40, 45, 50]


def test_only_the_newest_jobs_durations_are_kept_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with Ledger.open(path) as ledger:
        for seconds in range(10, 40):  # created `seconds` ago: the 10 s job is the newest
            finished_job(ledger, float(seconds))
        records = ledger.recent(200, state="completed")
    found = durations_from_ledger(records, API, keep=3)["m/video"]
    assert [round(s) for s in found] == [12, 11, 10]


def test_the_ledger_seeds_a_model_only_when_this_server_knows_nothing_of_it() -> None:
    history = DurationHistory(keep=5)
    history.of("m/a").add(12.0)
    history.seed({"m/a": [30.0, 31.0], "m/b": [7.0, 8.0, 9.0]})
    assert history.seeded
    assert history.of("m/a").durations() == [12.0]
    assert history.of("m/b").durations() == [7.0, 8.0, 9.0]
    assert history.of("m/b").estimate() == 8.0
    assert history.of("m/c").estimate() is None


def test_nonsense_durations_are_ignored_and_old_ones_make_room() -> None:
    durations = ModelDurations(keep=3)
    for seconds in (0.0, -1.0, 5000.0, 1.0, 2.0, 3.0, 4.0):
        durations.add(seconds)
    assert durations.durations() == [2.0, 3.0, 4.0]


@pytest.mark.anyio
async def test_adding_a_duration_wakes_whoever_waits_for_one() -> None:
    durations = ModelDurations()
    changed = durations.changed()
    assert changed is durations.changed()  # one event until something is added
    durations.add(10.0)
    with anyio.fail_after(1):
        await changed.wait()
    assert durations.changed() is not changed


def test_a_duration_close_to_a_known_one_wakes_nobody() -> None:
    durations = ModelDurations()
    durations.add(10.0)
    changed = durations.changed()
    durations.add(10.3)  # within 5 %: the schedules would barely move
    assert not changed.is_set() and durations.durations() == [10.0, 10.3]
    durations.add(12.0)
    assert changed.is_set()
