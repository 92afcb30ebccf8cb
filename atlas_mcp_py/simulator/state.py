"""The simulator's mutable state: catalog settings, jobs, uploads, request log, fault queue.

The app runs in uvicorn's thread while tests read and script the state from another, so every
access goes through one lock. Uploaded bytes live in a temporary directory the state owns
(removed by `close()`, `reset()` for the files, or when the state is garbage-collected).
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from .catalog import MODELS, ModelSpec
from .jobs import Job, Outcome, PredictionRecord, prediction_record

SIMULATOR_API_KEY: Final = "atlas-sim-key"

Endpoint = Literal[
    "models",
    "schema",
    "readme",
    "generate",
    "prediction",
    "upload",
    "history",
    "file",
    "balance",
    "control",
    "other",
]
FaultKind = Literal[
    "rate_limit", "html_error", "json_error", "malformed_json", "slow", "drop", "redirect"
]
"""`redirect`: a 302 (or `status`) to the URL in `message`, as a hostile gateway or CDN
might answer for an output file."""


class Fault(BaseModel):
    """A scripted misbehaviour for the next `times` requests to `endpoint`.

    `endpoint="any"` matches every Atlas endpoint (not the `/_sim/` control endpoints).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: Endpoint | Literal["any"]
    kind: FaultKind
    times: int = Field(default=1, ge=1)
    prediction_id: str | None = None
    status: int | None = Field(default=None, ge=100, le=599)
    retry_after: str | None = None
    delay: float = Field(default=0.0, ge=0.0)
    message: str | None = None

    def matches(self, endpoint: str, prediction_id: str | None) -> bool:
        if self.endpoint == "any":
            if endpoint == "control":
                return False
        elif self.endpoint != endpoint:
            return False
        return self.prediction_id is None or self.prediction_id == prediction_id


@dataclass(frozen=True)
class RequestRecord:
    """One request the simulator received.

    `authorized` is true when the request carried the right bearer key (whether or not the
    endpoint needs one); `time` is `time.monotonic()` at arrival. For `generate`,
    `prediction_id` is the id of the job the request created, if any. `credential` is the
    bearer token it carried, if any (tests check which secret reached the API).
    `request_id` is the `X-Request-ID` the answer carried, `status` its HTTP status (None
    until the answer starts), `host` "api" or "static" (the schema host).
    """

    method: str
    path: str
    endpoint: str
    prediction_id: str | None
    authorized: bool
    time: float
    credential: str | None = field(default=None, repr=False)
    request_id: str = ""
    status: int | None = None
    host: str = "api"
    accept: str | None = None
    """The `Accept` header the request carried."""


@dataclass(frozen=True)
class UploadRecord:
    """One uploaded file; its bytes are at `path`."""

    id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    path: Path


class SimulatorState:
    """Everything the simulated Atlas API knows, shared between the app and the tests.

    `catalog` (a list of ModelSpec) may be edited by a test before requests are made.
    `job_seconds` None gives each job its model's realistic length (tens of seconds); a
    number makes every job take that long (the speed-up tests and the demo use).
    `static_port` is the schema host's port, set by `SimulatorServer` (None: the schema
    documents are served on the API port too).
    """

    def __init__(
        self,
        *,
        job_seconds: float | None = None,
        api_key: str = SIMULATOR_API_KEY,
        max_upload_bytes: int = 50 * 1024 * 1024,
        balance_usd: float = 100.0,
        bonus_usd: float = 0.0,
        envelope: bool = True,
        message_key: str = "msg",
        output_style: str = "strings",
        clock: Callable[[], float] | None = None,
    ) -> None:
        if message_key not in ("message", "msg"):
            raise ValueError("message_key must be 'message' or 'msg'")
        if output_style not in ("strings", "objects"):
            raise ValueError("output_style must be 'strings' or 'objects'")
        self.job_seconds = job_seconds
        self.api_key = api_key
        self.max_upload_bytes = max_upload_bytes
        self.envelope = envelope
        self.message_key = message_key
        self.output_style = output_style
        self.clock: Callable[[], float] = clock or time.monotonic
        self.catalog: list[ModelSpec] = list(MODELS)
        self.static_port: int | None = None
        self._initial_balance = (balance_usd, bonus_usd)
        self._balance = balance_usd
        self._bonus = bonus_usd
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._uploads: dict[str, UploadRecord] = {}
        self._requests: list[RequestRecord] = []
        self._faults: list[Fault] = []
        self._dir = Path(tempfile.mkdtemp(prefix="atlas-sim-"))
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self._dir), True)

    def find_model(self, model_id: str) -> ModelSpec | None:
        """The catalog entry with this id (hidden ones included), or None."""
        return next((spec for spec in self.catalog if spec.id == model_id), None)

    def set_model_available(self, model_id: str, available: bool) -> None:
        """Let the account use a model (generate) or not (404); KeyError if not in the catalog."""
        spec = self.find_model(model_id)
        if spec is None:
            raise KeyError(model_id)
        self.catalog[self.catalog.index(spec)] = replace(spec, available=available)

    def job_length(self, spec: ModelSpec) -> float:
        """How long a job of this model runs (without a `[sim:seconds=N]` directive)."""
        return self.job_seconds if self.job_seconds is not None else spec.job_seconds

    # -- clock and money ---------------------------------------------------------------

    def now(self) -> float:
        """The current time on the state's clock (monotonic unless overridden)."""
        return self.clock()

    @property
    def balance_usd(self) -> float:
        """What the account can spend: cash plus bonus credit."""
        with self._lock:
            return round(self._balance + self._bonus, 6)

    @property
    def cash_usd(self) -> float:
        with self._lock:
            return self._balance

    @property
    def bonus_usd(self) -> float:
        with self._lock:
            return self._bonus

    def set_balance(self, balance_usd: float, *, bonus_usd: float = 0.0) -> None:
        """Set the account's cash (and bonus credit); `balance_usd` is the sum."""
        with self._lock:
            self._balance = balance_usd
            self._bonus = bonus_usd

    def charge(self, price: float) -> bool:
        """Deduct `price` (bonus credit first) if the balance covers it; else False."""
        with self._lock:
            if self._balance + self._bonus + 1e-9 < price:
                return False
            from_bonus = min(self._bonus, price)
            self._bonus = round(self._bonus - from_bonus, 6)
            self._balance = round(self._balance - (price - from_bonus), 6)
            return True

    # -- request log -------------------------------------------------------------------

    def record_request(
        self,
        method: str,
        path: str,
        endpoint: str,
        prediction_id: str | None,
        authorized: bool,
        credential: str | None = None,
        request_id: str = "",
        host: str = "api",
        accept: str | None = None,
    ) -> int:
        now = time.monotonic()
        record = RequestRecord(
            method,
            path,
            endpoint,
            prediction_id,
            authorized,
            now,
            credential,
            request_id=request_id,
            host=host,
            accept=accept,
        )
        with self._lock:
            self._requests.append(record)
            return len(self._requests) - 1

    def record_status(self, index: int, status: int) -> None:
        """Note the HTTP status the request at `index` was answered with."""
        with self._lock:
            if 0 <= index < len(self._requests):
                self._requests[index] = replace(self._requests[index], status=status)

    def attach_prediction(self, index: int, prediction_id: str) -> None:
        """Note which job the request at `index` created."""
        with self._lock:
            if 0 <= index < len(self._requests):
                self._requests[index] = replace(self._requests[index], prediction_id=prediction_id)

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    def count(self, endpoint: str, prediction_id: str | None = None) -> int:
        """How many requests hit `endpoint` (for `prediction_id`, when given)."""
        with self._lock:
            return sum(
                1
                for r in self._requests
                if r.endpoint == endpoint
                and (prediction_id is None or r.prediction_id == prediction_id)
            )

    # -- faults --------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def add_faults(self, faults: Iterable[Fault]) -> None:
        with self._lock:
            self._faults.extend(faults)

    def clear_faults(self) -> int:
        with self._lock:
            cleared = len(self._faults)
            self._faults.clear()
            return cleared

    @property
    def pending_faults(self) -> list[Fault]:
        """Faults not used up yet; `times` is what is left of each."""
        with self._lock:
            return list(self._faults)

    def take_fault(self, endpoint: str, prediction_id: str | None) -> Fault | None:
        """Consume one use of the first queued fault matching this request."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(endpoint, prediction_id):
                    if fault.times > 1:
                        self._faults[index] = fault.model_copy(update={"times": fault.times - 1})
                    else:
                        del self._faults[index]
                    return fault
            return None

    # -- jobs ----------------------------------------------------------------------------

    def add_job(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.id] = job

    def job(self, prediction_id: str) -> Job | None:
        """A copy of the job (safe to read outside the lock), or None."""
        with self._lock:
            job = self._jobs.get(prediction_id)
            return copy.copy(job) if job is not None else None

    def jobs(self) -> list[Job]:
        """Copies of all jobs, oldest first."""
        with self._lock:
            return [copy.copy(job) for job in self._jobs.values()]

    @property
    def predictions(self) -> dict[str, PredictionRecord]:
        now = self.now()
        return {job.id: prediction_record(job, now) for job in self.jobs()}

    def complete(self, prediction_id: str) -> None:
        """End the job successfully now (KeyError for an unknown id)."""
        self._force(prediction_id, succeeded=True)

    def fail(
        self,
        prediction_id: str,
        error: str = "Generation failed (forced by the simulator).",
        *,
        error_code: int | None = None,
        http_500: bool = False,
    ) -> None:
        """End the job as failed now; `http_500` makes its polls answer HTTP 500."""
        self._force(prediction_id, False, error, error_code, http_500)

    def _force(
        self,
        prediction_id: str,
        succeeded: bool,
        error: str | None = None,
        error_code: int | None = None,
        http_500: bool = False,
    ) -> None:
        with self._lock:
            job = self._jobs[prediction_id]
            now = self.now()
            current = job.outcome(now)
            at = min(now, current.at) if current is not None else now
            job.forced = Outcome(succeeded, at, error, error_code, http_500)

    def expire_outputs(self, prediction_id: str) -> None:
        """Make the job's output URLs answer 404 from now on (KeyError for an unknown id)."""
        with self._lock:
            job = self._jobs[prediction_id]
            job.expired_at = self.now()

    # -- uploads -------------------------------------------------------------------------

    @property
    def upload_dir(self) -> Path:
        return self._dir

    def add_upload(self, record: UploadRecord) -> None:
        with self._lock:
            self._uploads[record.id] = record

    @property
    def uploads(self) -> dict[str, UploadRecord]:
        with self._lock:
            return dict(self._uploads)

    # -- lifecycle -----------------------------------------------------------------------

    def reset(self) -> None:
        """Forget jobs, uploads (and their files), requests and faults; refill the balance."""
        with self._lock:
            self._jobs.clear()
            self._uploads.clear()
            self._requests.clear()
            self._faults.clear()
            self._balance, self._bonus = self._initial_balance
            for child in self._dir.iterdir():
                shutil.rmtree(child, ignore_errors=True)

    def close(self) -> None:
        """Delete the upload directory."""
        self._finalizer()
