"""How long each model's jobs take: what the poll schedule aims at.

`ModelDurations` keeps a model's recent run times (submission to completion, seconds),
shared by every wait on that model; `DurationHistory` holds one per model for a server.
A completed wait adds its job's run time by Atlas's own timestamps (`run_time`); at the
first wait, the job ledger seeds what this machine saw before (`durations_from_ledger`).
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

import anyio

from atlas_mcp_py.atlas import Prediction, unix_seconds

if TYPE_CHECKING:
    from atlas_mcp_py.jobs.records import JobRecord

__all__ = [
    "DurationHistory",
    "ModelDurations",
    "durations_from_ledger",
    "run_time",
]

KEEP_DURATIONS = 20
"""Recent durations kept per model: enough to see the spread (and a model whose jobs take
either ~5 s or ~60 s keeps both), few enough to follow drift within a day's work."""
NEAR_SHARE = 0.05
"""A run time within this share of a known one tells a waiting job nothing new."""
MAX_DURATION_SECONDS = 3600.0
"""Longer "durations" in the ledger are jobs checked long after they ended, not run times."""


class ModelDurations:
    """How long a model's recent jobs took (submission to completion, seconds), shared by
    every wait on that model; `changed()` wakes the waits when one more is known."""

    def __init__(self, keep: int = KEEP_DURATIONS) -> None:
        self._seconds: deque[float] = deque(maxlen=keep)
        self._changed: anyio.Event | None = None

    def durations(self) -> list[float]:
        return list(self._seconds)

    def estimate(self) -> float | None:
        """The median recent duration (the progress `total`), or None."""
        return statistics.median(self._seconds) if self._seconds else None

    def add(self, seconds: float) -> None:
        """Note one more run time; waiting jobs replan only when it is news (no known
        duration within 5 %): 100 jobs ending together wake each other a few times, not
        100 x 100."""
        if not 0 < seconds <= MAX_DURATION_SECONDS:
            return
        news = all(abs(known - seconds) > NEAR_SHARE * seconds for known in self._seconds)
        self._seconds.append(seconds)
        if news and self._changed is not None:
            self._changed.set()
            self._changed = None

    def seed(self, seconds: Iterable[float]) -> None:
        """Durations from before this process (the ledger), used only if none are known."""
        if not self._seconds:
            for value in seconds:
                self.add(value)

    def changed(self) -> anyio.Event:
        """An event set the next time a duration is added."""
        if self._changed is None:
            self._changed = anyio.Event()
        return self._changed


class DurationHistory:
    """`ModelDurations` per model, for one server."""

    def __init__(self, keep: int = KEEP_DURATIONS) -> None:
        self._keep = keep
        self._models: dict[str, ModelDurations] = {}
        self.seeded = False
        """Whether the ledger's durations have been read in (once per server)."""

    def of(self, model: str) -> ModelDurations:
        if model not in self._models:
            self._models[model] = ModelDurations(self._keep)
        return self._models[model]

    def seed(self, durations: dict[str, list[float]]) -> None:
        self.seeded = True
        for model, seconds in durations.items():
            self.of(model).seed(seconds)


def durations_from_ledger(
    records: Iterable[JobRecord], api_root: str, keep: int = KEEP_DURATIONS
) -> dict[str, list[float]]:
    """Run times of completed jobs this server's kind submitted to `api_root`, per model,
    oldest first, at most `keep` of the newest.

    The ledger's times are this machine's: written before the POST, and when a wait saw
    the job complete. A job finished long after it ended (handed off, checked later)
    looks far too long, so a duration over three times the model's median is dropped.
    """
    newest_first: dict[str, list[float]] = {}
    for record in records:
        if (
            record.state != "completed"
            or record.api_root != api_root
            or not record.params_hash  # first seen by atlas_check_status: not submitted here
            or record.completed_at is None
        ):
            continue
        took = record.completed_at - record.created_at
        if 0 < took <= MAX_DURATION_SECONDS:
            newest_first.setdefault(record.model, []).append(took)
    result: dict[str, list[float]] = {}
    for model, times in newest_first.items():
        recent = times[:keep]
        middle = statistics.median(recent)
        result[model] = [s for s in reversed(recent) if s <= 3 * middle]
    return result


def run_time(prediction: Prediction) -> float | None:
    """Seconds from creation to completion by Atlas's own timestamps, when both parse."""
    created, completed = unix_seconds(prediction.created_at), unix_seconds(prediction.completed_at)
    if created is None or completed is None:
        return None
    seconds = completed - created
    return seconds if 0 < seconds <= MAX_DURATION_SECONDS else None
