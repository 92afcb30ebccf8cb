"""A job's result as every caller gets it: `JobResult` and how a prediction becomes one.

The MCP tools return it as their structured result (server/results.py adds the text and
links); a background task or a test reads it as it is.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from atlas_mcp_py.atlas import Prediction, trim, unix_seconds
from atlas_mcp_py.jobs import Plan, Submitted

__all__ = [
    "REQUEST_SCHEMA",
    "JobResult",
    "absent_when_null",
    "dry_run_result",
    "elapsed_since",
    "job_result",
    "submitted_result",
]


def absent_when_null(schema: dict[str, Any]) -> None:
    """A field the dump leaves out when null needs no `null` in its schema (and a single
    type is what every client's schema dialect takes): `X | None` reads as `X`."""
    for name, prop in (schema.get("properties") or {}).items():
        variants = prop.get("anyOf") if isinstance(prop, dict) else None
        if isinstance(variants, list) and {"type": "null"} in variants:
            others = [v for v in variants if v != {"type": "null"}]
            if len(others) == 1:
                rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
                schema["properties"][name] = {**others[0], **rest}


REQUEST_SCHEMA: dict[str, Any] = {
    "properties": {"model": {"type": "string"}},
    "additionalProperties": True,
}
"""The dry run's body: a model and its parameters. A named field and an explicit `true`
for the rest, or fastmcp 2's `result.data` builds it as an empty object (and a field
schema of `{}` draws the MCP Inspector's strict-lint warning)."""


class JobResult(BaseModel):
    """A job as the generate and check tools return it. Fields that are null are absent
    from the structured result (`dump`), so its schema declares none as nullable."""

    model_config = ConfigDict(json_schema_extra=absent_when_null)

    prediction_id: str | None = None
    model: str
    status: Literal["processing", "completed", "failed", "dry_run"]
    video_url: str | None = None
    image_url: str | None = None
    """Image jobs (instead of video_url): the first output URL."""
    outputs: list[str] = []
    error: str | None = None
    elapsed_seconds: float | None = None
    local_path: str | None = None
    size_bytes: int | None = None
    estimated_cost_usd: float | None = None
    request: dict[str, Any] | None = Field(
        None, description="dry_run: the exact body", json_schema_extra=REQUEST_SCHEMA
    )
    notes: list[str] = []
    _kind: str = PrivateAttr("video")

    @property
    def kind(self) -> str:
        """What the job makes ("video" or "image"); not part of the wire shape."""
        return self._kind

    def as_kind(self, kind: str) -> JobResult:
        """This result for a job of `kind` (an image job's URL is `image_url`)."""
        self._kind = kind
        if kind == "image" and self.video_url is not None and self.image_url is None:
            self.image_url, self.video_url = self.video_url, None
        return self

    def dump(self) -> dict[str, Any]:
        """The structured result: JSON types, null fields left out."""
        return self.model_dump(mode="json", exclude_none=True)


def elapsed_since(created_at: str | None, now: datetime | None = None) -> float | None:
    """Seconds since an ISO-8601 or unix-seconds timestamp from Atlas, if parseable."""
    when = unix_seconds(created_at)
    if when is None:
        return None
    seconds = (now or datetime.now(UTC)).timestamp() - when
    return round(seconds, 1) if seconds >= 0 else None


def job_result(
    prediction: Prediction,
    *,
    model: str,
    elapsed: float | None,
    notes: list[str] | None = None,
    kind: str = "video",
) -> JobResult:
    """The result of `prediction` as last seen: its URL once completed, Atlas's reason
    (and code) once failed; `model` stands in when Atlas's answer names none."""
    state = prediction.state
    error = None
    if state == "failed":
        reason = prediction.error or f"the job ended with status {prediction.status!r}"
        if prediction.error_code:
            reason = f"{reason} (code {prediction.error_code})"
        error = trim(reason)
    return JobResult(
        prediction_id=prediction.id,
        model=prediction.model or model,
        status=state,
        video_url=prediction.outputs[0] if state == "completed" and prediction.outputs else None,
        outputs=prediction.outputs if state == "completed" else [],
        error=error,
        elapsed_seconds=None if elapsed is None else round(elapsed, 1),
        notes=list(notes or []),
    ).as_kind(kind)


def dry_run_result(plan: Plan) -> JobResult:
    """The result of a dry run: the exact body and the estimated cost; nothing sent."""
    return JobResult(
        prediction_id=None,
        model=plan.model.id,
        status="dry_run",
        estimated_cost_usd=plan.estimated_cost_usd,
        request=plan.request,
        notes=list(plan.notes),
    ).as_kind(plan.kind)


def submitted_result(job: Submitted, model: str, kind: str = "video") -> JobResult:
    """The result of a job not waited on (wait=false, or an earlier job already ended)."""
    prediction = job.prediction
    elapsed = 0.0
    if job.duplicate_of is not None:
        elapsed = prediction.predict_time or time.time() - job.duplicate_of.created_at
    result = job_result(prediction, model=model, elapsed=elapsed, notes=job.notes, kind=kind)
    result.estimated_cost_usd = job.estimated_cost_usd
    return result
