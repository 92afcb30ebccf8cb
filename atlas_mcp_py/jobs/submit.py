"""Paid-job safety for one generate call: guard, submit once, record, recover.

The plan comes first (`jobs.plan.make_plan`: the model resolved, the arguments checked
against its input schema, the cost estimated; nothing is sent when that fails).
`Submitter.submit` then, holding a lock per request fingerprint (so two identical calls
arriving together make one POST):
1. looks for the same request (model + canonical parameters) in the ledger within the
   duplicate window; a running or completed one is returned instead of paying again, and
   one another server process is sending right now is waited for, then returned;
2. takes an in-flight slot (waiting its turn, with queue reports, when all are busy),
   held while the request is sent, not while the job runs;
3. uploads local frames, then *claims* the request: the duplicate check again and the
   ledger row, in one transaction across processes (`Ledger.claim`). A process that
   finds another's row there goes back to step 1 instead of sending; a ledger that
   cannot be written refuses the call, nothing sent. Then it POSTs once and records the id;
4. when the POST may have reached Atlas but no id came back, never resends: `recovery`
   searches Atlas's history for the job; found, it carries on with it; not found, the row
   stays `unknown` and `LostSubmission` tells exactly what was sent and how to check.
MCP-agnostic: the server turns `Refused` / `LostSubmission` into tool errors.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import anyio.to_thread

from atlas_mcp_py.atlas import AtlasClient, Prediction, is_inline_marker, trim
from atlas_mcp_py.config import Settings
from atlas_mcp_py.errors import (
    AtlasError,
    LedgerError,
    NotFoundError,
    OutcomeUnknownError,
    Refused,
)
from atlas_mcp_py.jobs.book import JobBook
from atlas_mcp_py.jobs.pacing import InFlightLimit, QueueFn
from atlas_mcp_py.jobs.plan import (
    Plan,
    canonical,
)
from atlas_mcp_py.jobs.records import STALE_SUBMITTING_SECONDS, JobRecord
from atlas_mcp_py.jobs.recovery import GENERATE_PATH, GENERATE_PATHS, Recovery, age_text
from atlas_mcp_py.jobs.schema_check import non_finite

__all__ = [
    "Submitted",
    "Submitter",
]

logger = logging.getLogger(__name__)

QUEUE_PROGRESS_LEAD = 0.2
"""A queued call's wait counts from slightly before it joined the queue, so the
progress values of the wait continue above those of the queue reports."""

CLAIM_ATTEMPTS = 5
"""How often a call may find a new identical request appear between its duplicate check
and its claim before it gives up (each time, that request is waited for and returned)."""


OTHER_PROCESS_POLL = (0.05, 0.5)
"""Polling the ledger row of an identical request another process is sending: first and
longest interval (s)."""

UploadFn = Callable[[str], Awaitable[str]]
"""A local file's slot (`image`, `images[0]`: `Plan.local`) -> its URL, uploaded (or reused)."""


@dataclass
class Submitted:
    """The job a generate call stands for: new, found again, or an earlier duplicate."""

    prediction: Prediction
    started_at: float
    """`time.monotonic()` from which the job's elapsed time counts."""
    estimated_cost_usd: float | None
    notes: list[str]
    duplicate_of: JobRecord | None = None


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
        self.recovery = Recovery(
            client,
            book,
            history_delays or (0.0, settings.poll_max_seconds),
            wall=wall,
        )
        """Finds a job whose id was lost in Atlas's history."""
        self._clock = clock
        self._wall = wall
        self._locks = _Locks()

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
        owner: str = "",
    ) -> AsyncIterator[Submitted]:
        """The job for this request, new or an identical earlier one.

        `digests` are the sha256 of the local files (slot -> hex), which `upload`
        sends when a new job is submitted. An in-flight slot is held while the request is
        sent (frames uploaded, POST answered), not while the job runs. Raises `Refused`,
        `LostSubmission` or `AtlasError` (refused or never sent; nothing was billed).
        `queue_budget` bounds the wait for a slot: a call's wait budget, so a client that
        gives up after a minute hears "not sent" rather than a timeout. `owner` is the
        user asking: the duplicate guard and the daily spend limit count only their jobs.
        Over 60 lines: the guard, the slot and the send share one lock and its loop.
        """
        self.settings.require_api_key()
        if (number := non_finite(plan.body)) is not None:
            raise Refused(
                f"Not sent: {number}, and JSON has no NaN or Infinity: give a finite number. "
                "Nothing was sent or billed."
            )
        if not self.book.available:
            raise Refused(self._unrecordable(self.book.problem or "unavailable"))
        notes = list(plan.notes)
        _, params_hash = canonical(plan, digests or {})
        joined = self._clock()
        release: Callable[[], None] | None = None
        prediction: Prediction | None = None
        earlier: Submitted | None = None
        wait_budget = queue_budget if queue_budget is not None else self.settings.request_deadline
        skip: set[int] = set()
        """Rows of this request found not to count (failed, unknown to Atlas)."""
        async with self._locks.hold(f"{owner}\0{params_hash}"):
            for _ in range(CLAIM_ATTEMPTS):
                if not allow_duplicate:
                    earlier = await self._earlier_job(
                        plan, params_hash, notes, skip, wait_budget, owner
                    )
                if earlier is not None:
                    break
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
                        f"Not sent: this server is already sending {self.limit.in_flight} generate "
                        f"requests (ATLAS_MCP_MAX_IN_FLIGHT={self.limit.limit}) and this call "
                        f"waited its whole budget ({queue_budget:.0f} s) in the local queue. "
                        "Nothing was sent or billed; call again shortly."
                    )
                try:
                    started = joined - QUEUE_PROGRESS_LEAD if queued else self._clock()
                    check = None if allow_duplicate else skip
                    prediction = await self._send(plan, params_hash, upload, notes, check, owner)
                finally:
                    # Waiting on a job costs Atlas a poll every few seconds and this
                    # server next to nothing: only sending is paced.
                    release()
                if prediction is not None:
                    break
        if earlier is not None:
            yield earlier
            return
        if prediction is None:
            raise Refused(
                "Not sent: identical requests kept appearing from other server processes "
                "sharing this job ledger while this one was about to be sent. Nothing was "
                "billed by this call; atlas_list_jobs shows those jobs."
            )
        self.book.add_warning(notes)
        yield Submitted(prediction, started, plan.estimated_cost_usd, notes)

    async def _send(
        self,
        plan: Plan,
        params_hash: str,
        upload: UploadFn,
        notes: list[str],
        skip: set[int] | None,
        owner: str = "",
    ) -> Prediction | None:
        """Upload the frames, claim the request, POST it once. None (nothing sent) when
        the claim found an identical request not yet looked at; `skip=None` claims
        without the duplicate check."""
        model = plan.model.id
        body = plan.with_urls({slot: await upload(slot) for slot in plan.local})
        api_root = self.settings.base_url
        window = self.settings.duplicate_window_seconds
        since = self._wall() - window if skip is not None and window > 0 else None
        seen = frozenset(skip or ())
        try:
            claim = await self.book.run_or_raise(
                lambda ledger: ledger.claim(
                    model=model,
                    api_root=api_root,
                    params=body,
                    params_hash=params_hash,
                    prompt=body.get("prompt"),
                    estimated_cost_usd=plan.estimated_cost_usd,
                    since=since,
                    skip=seen,
                    owner=owner,
                    daily_limit_usd=self.settings.user_daily_usd,
                )
            )
        except LedgerError as exc:
            logger.warning("job ledger: %s; generate refused", exc)
            raise Refused(self._unrecordable(str(exc))) from None
        if claim.spent_today is not None:
            raise Refused(over_daily_limit(self.settings, plan, claim.spent_today))
        if claim.row is None:
            return None  # another process claimed it first: look at its row
        ref = claim.row.ref
        sent_at = self._wall()
        try:
            prediction = await self.client.generate(plan.kind, model, body)
        except OutcomeUnknownError as exc:
            reason = trim(str(exc), 200)
            await self.book.run(notes, lambda ledger: ledger.mark_unknown(ref, reason))
            path = GENERATE_PATHS.get(plan.kind, GENERATE_PATH)
            return await self.recovery.recover(
                model, body, sent_at, reason, ref, notes, path, salvaged=exc.prediction_id
            )
        except AtlasError:
            # refused or never sent: nothing to remember
            await self.book.run(notes, lambda ledger: ledger.discard(ref))
            raise
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                note = "the call was cancelled while the request was being sent"
                await self.book.run(None, lambda ledger: ledger.mark_unknown(ref, note))
            raise
        await self.book.run(notes, lambda ledger: ledger.attach(ref, prediction))
        return prediction

    def _unrecordable(self, problem: str) -> str:
        return (
            f"Not sent: the job ledger cannot record this request ({trim(problem, 300)}), and "
            "a paid job is sent only once it is written down (a restart would forget it "
            "otherwise). Nothing was sent or billed. Fix: free disk space, or set "
            "ATLAS_MCP_STATE_DIR to a writable directory (or move a damaged jobs.sqlite3 "
            "aside) and restart the server. atlas_list_models, atlas_upload_media and "
            "atlas_check_status keep working meanwhile."
        )

    # -- the duplicate guard -----------------------------------------------------------

    async def _earlier_job(
        self,
        plan: Plan,
        params_hash: str,
        notes: list[str],
        skip: set[int],
        budget: float,
        owner: str = "",
    ) -> Submitted | None:
        """The identical earlier job this call stands for, if one counts; rows found not
        to count are added to `skip`."""
        window = self.settings.duplicate_window_seconds
        if window <= 0:
            return None
        since = self._wall() - window
        api_root = self.settings.base_url
        rows = await self.book.run(
            notes, lambda ledger: ledger.recent_twins(params_hash, api_root, since, owner)
        )
        for found in rows or []:
            if found.ref in skip:
                continue
            row = found
            if _sent_elsewhere(row, self._wall()):
                waited = await self._await_other(row, budget)
                if waited is None:  # refused or never sent there: nothing to return
                    skip.add(row.ref)
                    continue
                row = waited
            prediction = await self._current(row, plan)
            if prediction is None or prediction.state == "failed":
                skip.add(row.ref)
                continue
            age = self._wall() - row.created_at
            self.book.add_warning(notes)
            notes.append(
                f"Not sent again: an identical request ({plan.model.id}, same parameters) "
                f"was submitted {age_text(age)} ago as prediction {prediction.id}, so this is "
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

    async def _await_other(self, row: JobRecord, budget: float) -> JobRecord | None:
        """Wait (at most `budget` s) for another process to finish sending the identical
        request of `row`: the row as it then is, or None when it was dropped (refused or
        never sent). Raises `Refused` when the budget ends first."""
        ref = row.ref
        delay, longest = OTHER_PROCESS_POLL
        with anyio.move_on_after(budget):
            while True:
                try:
                    current = await self.book.run_or_raise(lambda ledger: ledger.get_ref(ref))
                except LedgerError as exc:  # "gone" must not be guessed: it means "send"
                    raise Refused(self._unrecordable(str(exc))) from None
                if current is None or not _sent_elsewhere(current, self._wall()):
                    return current
                await anyio.sleep(delay)
                delay = min(longest, delay * 2)
        raise Refused(
            f"Not sent: an identical request is being sent right now by another atlas-mcp "
            f"server sharing this job ledger (process {row.pid}), and paying twice is worse "
            "than waiting. Nothing was billed by this call; call again in a moment and it "
            "returns that job (atlas_list_jobs shows it)."
        )

    async def _current(self, row: JobRecord, plan: Plan) -> Prediction | None:
        """What an earlier identical job is now; None when it does not count."""
        if row.state == "failed":
            return None
        if row.prediction_id is None:  # submitting elsewhere, or its id was lost
            return await self.recovery.resolve_lost(row, plan)
        if row.state == "completed" and not any(map(is_inline_marker, row.outputs)):
            return row.as_prediction()  # (inline outputs are not kept: ask Atlas again)
        try:
            prediction = await self.client.get_prediction(row.prediction_id)
        except NotFoundError:
            return None  # another account's or a forgotten job
        except AtlasError:
            return row.as_prediction()  # cannot tell: waiting on it will
        await self.book.update(prediction)
        return prediction


def _sent_elsewhere(row: JobRecord, now: float) -> bool:
    """Is another, live process sending the request of `row` right now?"""
    if row.state != "submitting" or row.prediction_id is not None:
        return False
    if row.pid is None or row.pid == os.getpid():
        return False  # this process sends one request at a time per fingerprint
    if now - row.updated_at > STALE_SUBMITTING_SECONDS:
        return False
    return _alive(row.pid)


def _alive(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill(pid, 0) would send CTRL_C_EVENT there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def over_daily_limit(settings: Settings, plan: Plan, spent: float) -> str:
    """Why a request past its user's daily spend limit was not sent."""
    limit = settings.user_daily_usd or 0.0
    cost = plan.estimated_cost_usd or 0.0
    return (
        f"Not sent: your daily spend limit is ${limit:.2f} (ATLAS_MCP_USER_DAILY_USD) and "
        f"your jobs of today (UTC) are estimated at ${spent:.2f}; this one (${cost:.2f}) "
        "would pass it. Nothing was sent or billed. The limit resets at 00:00 UTC; the "
        "server's operator can raise it."
    )
