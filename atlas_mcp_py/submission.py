"""Paid-job safety for one generate call: plan, guard, submit once, record, recover.

`Submitter.plan` resolves the model, checks the arguments against its input schema
(nothing is sent when they fail) and estimates the cost from the catalog.
`Submitter.submit` then, holding a lock per request fingerprint (so two identical
calls arriving together make one POST):

1. looks for the same request (model + canonical parameters) in the ledger within the
   duplicate window; a running or completed one is returned instead of paying again;
2. takes an in-flight slot (waiting its turn, with queue reports, when all are busy);
3. uploads local frames, writes the ledger row, POSTs once, and records the id;
4. when the POST may have reached Atlas but no id came back, never resends: it searches
   Atlas's history for the job; found, it carries on with it; not found, the row stays
   `unknown` and `OutcomeUnknown` tells exactly what was sent and how to check.

MCP-agnostic: the server turns `Refused` / `OutcomeUnknown` into tool errors.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.to_thread

from atlas_mcp_py.client import AtlasClient
from atlas_mcp_py.config import Settings
from atlas_mcp_py.errors import AtlasError, NotFoundError, OutcomeUnknownError
from atlas_mcp_py.history import (
    HISTORY_SLACK_SECONDS,
    find_in_history,
    history_prediction,
)
from atlas_mcp_py.jobs import JobBook, JobRecord
from atlas_mcp_py.models import HistoryItem, ModelInfo, Prediction
from atlas_mcp_py.pacing import InFlightLimit, QueueFn
from atlas_mcp_py.results import trim
from atlas_mcp_py.validation import ArgumentError, validate_arguments

__all__ = [
    "FRAME_NAMES",
    "GenerateArgs",
    "OutcomeUnknown",
    "Plan",
    "Refused",
    "Submitted",
    "Submitter",
    "estimate_cost",
    "fingerprint",
]

logger = logging.getLogger(__name__)

FRAME_NAMES = ("image", "end_image")
GENERATE_PATH = "/api/v1/model/generateVideo"
DASHBOARD = "https://www.atlascloud.ai (console: history / predictions)"
QUEUE_PROGRESS_LEAD = 0.2
"""A queued call's wait counts from slightly before it joined the queue, so the
progress values of the wait continue above those of the queue reports."""

UploadFn = Callable[[str], Awaitable[str]]
"""A frame argument's name -> the URL of its local file, uploaded (or reused)."""


class Refused(Exception):
    """The call cannot go ahead as asked; nothing was sent. The message says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OutcomeUnknown(Exception):
    """The POST may have created a job but no id came back and history does not show it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class GenerateArgs:
    """The generate tool's request arguments."""

    model: str
    prompt: str
    image: str | None = None
    end_image: str | None = None
    duration: int | None = None
    resolution: str | None = None
    params: Mapping[str, Any] | None = None


@dataclass
class Plan:
    """A request that passed validation: what would be sent, and what it costs."""

    model: ModelInfo
    body: dict[str, Any]
    """The body without `model`, defaults filled; local frames still as their paths."""
    defaults: dict[str, Any]
    """Defaults of parameters the body leaves out (they make requests compare equal)."""
    estimated_cost_usd: float | None
    validated: bool
    notes: list[str] = field(default_factory=list)

    @property
    def request(self) -> dict[str, Any]:
        """The exact JSON body of the POST (local frames shown as their paths)."""
        return {"model": self.model.id, **self.body}


@dataclass
class Submitted:
    """The job a generate call stands for: new, found again, or an earlier duplicate."""

    prediction: Prediction
    started_at: float
    """`time.monotonic()` from which the job's elapsed time counts."""
    estimated_cost_usd: float | None
    notes: list[str]
    duplicate_of: JobRecord | None = None


def is_local(value: str) -> bool:
    return not value.startswith(("http://", "https://", "data:")) and "://" not in value


def estimate_cost(model: ModelInfo, body: Mapping[str, Any]) -> float | None:
    """The catalog price for this request, when the catalog states one."""
    if model.price is None:
        return None
    unit = (model.price_unit or "").lower()
    if unit.startswith("second"):
        duration = body.get("duration")
        if isinstance(duration, str):
            try:
                duration = float(duration)
            except ValueError:
                return None
        if isinstance(duration, int | float) and math.isfinite(duration):
            return round(model.price * duration, 4)
        return None
    return model.price


def fingerprint(model: str, canonical: Mapping[str, Any]) -> str:
    """sha256 of the model and the canonical parameters (sorted keys, compact JSON)."""
    text = json.dumps(
        {"model": model, "params": canonical},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _clock_time(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%H:%M:%S UTC")


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"


class _Locks:
    """One anyio.Lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[anyio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (anyio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class Submitter:
    """Plans and submits generate requests for one server (one per lifespan)."""

    def __init__(
        self,
        settings: Settings,
        client: AtlasClient,
        book: JobBook,
        *,
        limit: InFlightLimit | None = None,
        history_delays: tuple[float, ...] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.client = client
        self.book = book
        self.limit = limit or InFlightLimit(
            settings.max_in_flight, heartbeat=settings.heartbeat_seconds
        )
        self.history_delays = history_delays or (0.0, settings.poll_max_seconds)
        """Pause before each history search for a job whose id was lost (Atlas may lag):
        at once, then one poll interval later."""
        self._clock = clock
        self._wall = wall
        self._locks = _Locks()

    # -- planning ----------------------------------------------------------------------

    async def plan(self, args: GenerateArgs) -> Plan:
        """Resolve, validate and price a request. Raises `Refused` or `AtlasError`."""
        body: dict[str, Any] = dict(args.params or {})
        if "model" in body:
            raise Refused("Pass the model as the `model` argument, not inside `params`.")
        for name, value in (
            ("prompt", args.prompt),
            ("image", args.image),
            ("end_image", args.end_image),
            ("duration", args.duration),
            ("resolution", args.resolution),
        ):
            if value is not None:
                body[name] = value
        info = await self.client.get_model(args.model)
        if info is None:
            raise Refused(
                f"Unknown model {args.model!r}. Call atlas_list_models to see the video "
                "models. Nothing was sent."
            )
        if info.type != "video":
            raise Refused(f"{info.id} is a {info.type} model, not a video model. Nothing was sent.")
        notes: list[str] = []
        schema: dict[str, Any] | None = None
        try:
            schema = await self.client.get_input_schema(info.id)
        except AtlasError as exc:
            notes.append(
                f"The arguments were not validated: {info.id}'s input schema could not be "
                f"fetched ({trim(str(exc), 160)}); Atlas will judge them."
            )
        else:
            if schema is None:
                notes.append(
                    f"The arguments were not validated: the catalog publishes no input "
                    f"schema for {info.id}; Atlas will judge them."
                )
        defaults: dict[str, Any] = {}
        if schema is not None:
            try:
                checked = validate_arguments(schema, body, model=info.id)
            except ArgumentError as exc:
                raise Refused(exc.message) from None
            body, defaults = checked.body, checked.defaults
            if checked.filled:
                names = ", ".join(checked.filled)
                notes.append(f"Filled the required {names} with the model's default.")
        cost = estimate_cost(info, {**defaults, **body})
        return Plan(info, body, defaults, cost, schema is not None, notes)

    def cost_summary(self, plan: Plan) -> str | None:
        """The estimate and the limit, when the job needs the person's confirmation
        (above ATLAS_MCP_CONFIRM_ABOVE_USD, or priced unknown while a limit is set)."""
        limit = self.settings.confirm_above_usd
        cost = plan.estimated_cost_usd
        if limit is None or (cost is not None and cost <= limit):
            return None
        amount = f"about ${cost:.2f}" if cost is not None else "a price the catalog omits"
        return f"{amount} (above the ${limit:.2f} set by ATLAS_MCP_CONFIRM_ABOVE_USD)"

    @staticmethod
    def canonical(plan: Plan, digests: Mapping[str, str]) -> tuple[dict[str, Any], str]:
        """The request's canonical parameters and their hash: defaults filled, local
        frames by content (`digests`: name -> sha256), so the same file is the same
        request wherever it lies and however often it was uploaded."""
        canon = {**plan.defaults, **plan.body}
        for name, digest in digests.items():
            if name in canon:
                canon[name] = f"file:sha256:{digest}"
        return canon, fingerprint(plan.model.id, canon)

    # -- submitting --------------------------------------------------------------------

    @asynccontextmanager
    async def submit(
        self,
        plan: Plan,
        *,
        upload: UploadFn,
        digests: Mapping[str, str] | None = None,
        allow_duplicate: bool = False,
        on_queue: QueueFn | None = None,
        queue_budget: float | None = None,
    ) -> AsyncIterator[Submitted]:
        """The job for this request, new or an identical earlier one.

        `digests` are the sha256 of the local frames (name -> hex), which `upload`
        sends when a new job is submitted. A new job holds an in-flight slot until the
        `async with` block ends: wait on the job inside it. Raises `Refused`,
        `OutcomeUnknown` or `AtlasError` (refused or never sent; nothing was billed).
        `queue_budget` bounds the wait for a slot: a call's wait budget, so a client that
        gives up after a minute hears "not sent" rather than a timeout.
        """
        self.settings.require_api_key()
        notes = list(plan.notes)
        _, params_hash = self.canonical(plan, digests or {})
        joined = self._clock()
        release: Callable[[], None] | None = None
        async with self._locks.hold(params_hash):
            earlier = None
            if not allow_duplicate:
                earlier = await self._earlier_job(plan, params_hash, notes)
            if earlier is None:
                queued = False

                async def waiting(ahead: int) -> None:
                    nonlocal queued
                    queued = True
                    if on_queue is not None:
                        await on_queue(ahead)

                release = None
                with anyio.move_on_after(queue_budget):
                    release = await self.limit.acquire(waiting)
                if release is None:
                    raise Refused(
                        f"Not sent: this server already runs {self.limit.in_flight} generations "
                        f"(ATLAS_MCP_MAX_IN_FLIGHT={self.limit.limit}) and this call waited its "
                        f"whole budget ({queue_budget:.0f} s) in the local queue. Nothing was "
                        "sent or billed; call again shortly."
                    )
                try:
                    started = joined - QUEUE_PROGRESS_LEAD if queued else self._clock()
                    prediction = await self._send(plan, params_hash, upload, notes)
                except BaseException:
                    release()
                    raise
        if earlier is not None:
            yield earlier
            return
        assert release is not None
        self.book.add_warning(notes)
        try:
            yield Submitted(prediction, started, plan.estimated_cost_usd, notes)
        finally:
            release()

    async def _send(
        self, plan: Plan, params_hash: str, upload: UploadFn, notes: list[str]
    ) -> Prediction:
        model = plan.model.id
        body = dict(plan.body)
        for name in FRAME_NAMES:
            value = body.get(name)
            if isinstance(value, str) and is_local(value):
                body[name] = await upload(name)
        api_root = self.settings.base_url
        row = await self.book.run(
            notes,
            lambda ledger: ledger.add(
                model=model,
                api_root=api_root,
                params=body,
                params_hash=params_hash,
                prompt=body.get("prompt"),
                estimated_cost_usd=plan.estimated_cost_usd,
            ),
        )
        ref = row.ref if row is not None else None
        sent_at = self._wall()
        try:
            prediction = await self.client.generate("video", model, body)
        except OutcomeUnknownError as exc:
            reason = trim(str(exc), 200)
            if ref is not None:
                await self.book.run(notes, lambda ledger: ledger.mark_unknown(ref, reason))
            return await self._recover(model, body, sent_at, reason, ref, notes)
        except AtlasError:
            if ref is not None:  # refused or never sent: nothing to remember
                await self.book.run(notes, lambda ledger: ledger.discard(ref))
            raise
        except anyio.get_cancelled_exc_class():
            if ref is not None:
                with anyio.CancelScope(shield=True):
                    note = "the call was cancelled while the request was being sent"
                    await self.book.run(None, lambda ledger: ledger.mark_unknown(ref, note))
            raise
        if ref is not None:
            await self.book.run(notes, lambda ledger: ledger.attach(ref, prediction))
        return prediction

    # -- the lost-id path --------------------------------------------------------------

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

    async def _recover(
        self,
        model: str,
        body: dict[str, Any],
        sent_at: float,
        reason: str,
        ref: int | None,
        notes: list[str],
    ) -> Prediction:
        logger.warning("generate outcome unknown (%s); searching Atlas's history", reason)
        match, candidates, error = await self._search(model, body, sent_at)
        if match is not None:
            prediction = history_prediction(match)
            if prediction.model is None:
                prediction = prediction.model_copy(update={"model": model})
            note = f"id found in Atlas's history after: {reason}"
            if ref is not None:
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
        recorded = (
            'The ledger keeps this request as "unknown": atlas_list_jobs shows it.'
            if ref is not None
            else "The job ledger is unavailable, so this request is not recorded."
        )
        raise OutcomeUnknown(
            f"The outcome of this generate request is unknown: {reason}. It may have "
            "reached Atlas and may be billed, so it was NOT resent. "
            f"Sent at {_clock_time(sent_at)}: POST {GENERATE_PATH} {sent}. {searched} "
            f"{recorded} To check: look for the job in the Atlas dashboard at {DASHBOARD}; "
            "once you have its id, atlas_check_status finishes it. Only if no job "
            "appears within a few minutes, send it again with allow_duplicate: true."
        )

    # -- the duplicate guard -----------------------------------------------------------

    async def _earlier_job(
        self, plan: Plan, params_hash: str, notes: list[str]
    ) -> Submitted | None:
        window = self.settings.duplicate_window_seconds
        if window <= 0:
            return None
        since = self._wall() - window
        api_root = self.settings.base_url
        rows = await self.book.run(
            notes, lambda ledger: ledger.same_request(params_hash, api_root, since)
        )
        for row in rows or []:
            prediction = await self._current(row, plan)
            if prediction is None or prediction.state == "failed":
                continue
            age = self._wall() - row.created_at
            self.book.add_warning(notes)
            notes.append(
                f"Not sent again: an identical request ({plan.model.id}, same parameters) "
                f"was submitted {_age(age)} ago as prediction {prediction.id}, so this is "
                "that job and nothing new was billed. To pay for a new one, call again "
                "with allow_duplicate: true."
            )
            return Submitted(
                prediction=prediction,
                started_at=self._clock() - max(0.0, age),
                estimated_cost_usd=row.estimated_cost_usd,
                notes=notes,
                duplicate_of=row,
            )
        return None

    async def _current(self, row: JobRecord, plan: Plan) -> Prediction | None:
        """What an earlier identical job is now; None when it does not count."""
        if row.state == "failed":
            return None
        if row.prediction_id is None:  # submitting elsewhere, or its id was lost
            return await self._resolve_lost(row, plan)
        if row.state == "completed":
            return row.as_prediction()
        try:
            prediction = await self.client.get_prediction(row.prediction_id)
        except NotFoundError:
            return None  # another account's or a forgotten job
        except AtlasError:
            return row.as_prediction()  # cannot tell: waiting on it will
        await self.book.update(prediction)
        return prediction

    async def _resolve_lost(self, row: JobRecord, plan: Plan) -> Prediction:
        match, _, _ = await self._search(plan.model.id, row.params, row.created_at)
        if match is None:
            when = _age(self._wall() - row.created_at)
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
