"""A generate request whose answer was lost: finding its job in Atlas's history.

A POST that may have reached Atlas is never resent (it may be billed): the job is looked
for in the account's history instead (`atlas.history.find_in_history`), at once and
again one poll interval later. Found, the ledger row gets its id; not found, the row
stays `unknown` and `LostSubmission` says exactly what was sent and how to check.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import anyio

from atlas_mcp_py.atlas import (
    HISTORY_SLACK_SECONDS,
    AtlasClient,
    HistoryItem,
    Prediction,
    find_in_history,
    history_prediction,
    trim,
)
from atlas_mcp_py.errors import AtlasError, LostSubmission, Refused
from atlas_mcp_py.jobs.book import JobBook
from atlas_mcp_py.jobs.plan import Plan
from atlas_mcp_py.jobs.records import JobRecord

__all__ = ["GENERATE_PATH", "GENERATE_PATHS", "Recovery", "age_text"]

logger = logging.getLogger(__name__)

GENERATE_PATH = "/api/v1/model/generateVideo"


GENERATE_PATHS = {"video": GENERATE_PATH, "image": "/api/v1/model/generateImage"}

DASHBOARD = "https://www.atlascloud.ai (console: history / predictions)"


def _clock_time(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%H:%M:%S UTC")


def age_text(seconds: float) -> str:
    """`seconds` as a person reads an age: "45 s", "3 min"."""
    seconds = max(0, int(seconds))
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"


class Recovery:
    """Looks for jobs whose id was lost in Atlas's history, for one `Submitter`."""

    def __init__(
        self,
        client: AtlasClient,
        book: JobBook,
        history_delays: tuple[float, ...],
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.book = book
        self.history_delays = history_delays
        """Pause before each history search for a job whose id was lost (Atlas may lag):
        at once, then one poll interval later."""
        self._wall = wall

    async def _known(self, ids: list[str]) -> set[str]:
        return await self.book.run(None, lambda ledger: ledger.known_ids(ids)) or set()

    async def _search(
        self, model: str, body: Mapping[str, Any], sent_at: float
    ) -> tuple[HistoryItem | None, list[HistoryItem], AtlasError | None]:
        match: HistoryItem | None = None
        candidates: list[HistoryItem] = []
        error: AtlasError | None = None
        for delay in self.history_delays:
            await anyio.sleep(delay)
            try:
                match, candidates = await find_in_history(
                    self.client, model=model, body=body, since=sent_at, known=self._known
                )
            except AtlasError as exc:
                error = exc
                continue
            error = None
            if match is not None:
                break
        return match, candidates, error

    async def _confirm(self, salvaged: str | None, model: str) -> Prediction | None:
        """The job `salvaged` names, when Atlas knows it and it is of `model`."""
        if not salvaged:
            return None
        try:
            prediction = await self.client.get_prediction(salvaged)
        except AtlasError:
            return None
        if prediction.model not in (None, model):
            return None
        return prediction.model_copy(update={"model": model})

    async def recover(
        self,
        model: str,
        body: dict[str, Any],
        sent_at: float,
        reason: str,
        ref: int,
        notes: list[str],
        path: str = GENERATE_PATH,
        salvaged: str | None = None,
    ) -> Prediction:
        """A job whose POST answer was lost, found in Atlas's history (recorded, with a
        note); raises `LostSubmission` with what was sent and how to check when not.
        `salvaged`: an id read from the raw bytes of an answer that could not be decoded,
        looked up first (kept only when Atlas knows it, for this model)."""
        logger.warning("generate outcome unknown (%s); searching Atlas's history", reason)
        found = await self._confirm(salvaged, model)
        if found is not None:
            note = f"id read from an unreadable answer and confirmed by Atlas: {reason}"
            await self.book.run(notes, lambda ledger: ledger.attach(ref, found, note=note))
            notes.append(
                f"Atlas's answer to the submission could not be read ({reason}). The request "
                f"was not resent; the id in it, {found.id}, was confirmed with Atlas."
            )
            return found
        match, candidates, error = await self._search(model, body, sent_at)
        if match is not None:
            prediction = history_prediction(match)
            if prediction.model is None:
                prediction = prediction.model_copy(update={"model": model})
            note = f"id found in Atlas's history after: {reason}"
            await self.book.run(notes, lambda ledger: ledger.attach(ref, prediction, note=note))
            notes.append(
                f"Atlas's answer to the submission was lost ({reason}). The request was not "
                f"resent; the job was found in Atlas's history as {prediction.id}."
            )
            return prediction
        sent = trim(json.dumps({"model": model, **body}, ensure_ascii=False), 600)
        if error is not None:
            searched = f"Searching Atlas's history failed too ({trim(str(error), 160)})."
        else:
            searched = (
                f"Atlas's history shows no matching {model} job created since "
                f"{_clock_time(sent_at - HISTORY_SLACK_SECONDS)} (yet)."
            )
        if candidates:
            ids = ", ".join(item.id for item in candidates[:5])
            searched += f" Jobs of this model from that time that may be it: {ids}."
        recorded = 'The ledger keeps this request as "unknown": atlas_list_jobs shows it.'
        raise LostSubmission(
            f"The outcome of this generate request is unknown: {reason}. It may have "
            "reached Atlas and may be billed, so it was NOT resent. "
            f"Sent at {_clock_time(sent_at)}: POST {path} {sent}. {searched} "
            f"{recorded} To check: look for the job in the Atlas dashboard at {DASHBOARD}; "
            "once you have its id, atlas_check_status finishes it. Only if no job "
            "appears within a few minutes, send it again with allow_duplicate: true."
        )

    async def resolve_lost(self, row: JobRecord, plan: Plan) -> Prediction:
        """The job of an earlier identical request whose id was lost, from Atlas's history
        (attached to its row); raises `Refused` when history does not show it."""
        match, _, _ = await self._search(plan.model.id, row.params, row.created_at)
        if match is None:
            when = age_text(self._wall() - row.created_at)
            raise Refused(
                f"Not sent: an identical request sent {when} ago has an unknown outcome (it "
                "may have created a job that Atlas's history does not show yet), and paying "
                "twice is worse than waiting. Check atlas_list_jobs or the Atlas dashboard; "
                "if no job exists, call again with allow_duplicate: true."
            )
        prediction = history_prediction(match)
        if prediction.model is None:
            prediction = prediction.model_copy(update={"model": plan.model.id})
        note = "id found in Atlas's history by the duplicate guard"
        await self.book.run(None, lambda ledger: ledger.attach(row.ref, prediction, note=note))
        return prediction
