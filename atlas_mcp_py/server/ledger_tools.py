"""atlas_list_jobs and the atlas://jobs/{id} resource: the ledger, read."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.types import ToolAnnotations
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from atlas_mcp_py.atlas import is_inline_marker, kind_of_outputs
from atlas_mcp_py.errors import Refused
from atlas_mcp_py.generation import absent_when_null, expired
from atlas_mcp_py.jobs import STALE_SUBMITTING_SECONDS, JobRecord, RecordState
from atlas_mcp_py.server.results import tool_errors
from atlas_mcp_py.server.state import AppState, state
from atlas_mcp_py.server.users import user_of

__all__ = [
    "JobList",
    "JobSummary",
    "atlas_list_jobs",
    "job_resource",
    "register",
]


# -- atlas_list_jobs and the job resource -------------------------------------------------


class JobSummary(BaseModel):
    """One recorded job as `atlas_list_jobs` shows it (null fields left out, but for
    `prediction_id`: a lost job has none)."""

    model_config = ConfigDict(json_schema_extra=lambda schema: _listed(schema))

    prediction_id: str | None
    status: str
    model: str
    created: str | None
    prompt: str
    cost_usd: float | None = None
    video_url: str | None = None
    image_url: str | None = None
    """An image job's URL (its `video_url` stays empty)."""
    local_path: str | None = None
    expires: str | None = None
    """When Atlas stops serving the video (`expired: ...` once it has)."""
    error: str | None = None
    """The failure, or why the outcome is unknown."""

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if v is not None or k == "prediction_id"}


def _listed(schema: dict[str, Any]) -> None:
    """The schema as the dump is: only `prediction_id` may be null."""
    kept = schema["properties"]["prediction_id"]
    absent_when_null(schema)
    schema["properties"]["prediction_id"] = kept


class JobList(BaseModel):
    """The output of `atlas_list_jobs`: clients build objects from the schema (fastmcp's
    `result.data`), so each job's fields are declared (a bare object comes back empty)."""

    jobs: list[JobSummary]
    ledger: str


def _iso(unix: float | None) -> str | None:
    if unix is None:
        return None
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def shown_state(record: JobRecord, now: float | None = None) -> str:
    """The state to show: a `submitting` row of a process that died is `unknown`."""
    now = time.time() if now is None else now
    if record.state == "submitting" and now - record.updated_at > STALE_SUBMITTING_SECONDS:
        return "unknown"
    return record.state


def summarise_job(record: JobRecord) -> JobSummary:
    state = shown_state(record)
    error = None
    if state == "failed":
        error = record.error
    elif state == "unknown":
        error = record.note or "the request may have created a job, but no id came back"
    return JobSummary(
        prediction_id=record.prediction_id,
        status=state,
        model=record.model,
        created=_iso(record.created_at),
        prompt=record.prompt,
        cost_usd=record.estimated_cost_usd,
        **output_urls(record),
        local_path=record.local_path,
        expires=_expires_text(record),
        error=error,
    )


def output_urls(record: JobRecord) -> dict[str, str | None]:
    """`video_url`, or `image_url` for an image job, of a completed job (an inline image,
    which the ledger does not keep, has none: its file is `local_path`)."""
    url = record.video_url
    if url is not None and is_inline_marker(url):
        url = None
    if kind_of_outputs(record.outputs) == "image":
        return {"video_url": None, "image_url": url}
    return {"video_url": url, "image_url": None}


def _expires_text(record: JobRecord) -> str | None:
    if record.state != "completed" or record.expires_at is None:
        return None
    when = _iso(record.expires_at)
    return f"expired: {when}" if expired(record) else when


def job_document(record: JobRecord) -> dict[str, Any]:
    """The JSON of `atlas://jobs/{prediction_id}`."""
    data = record.model_dump(mode="json", exclude={"ref", "pid"})
    data["state"] = shown_state(record)
    data["created_at"] = _iso(record.created_at)
    data["updated_at"] = _iso(record.updated_at)
    data["completed_at"] = _iso(record.completed_at)
    data["expires_at"] = _iso(record.expires_at)
    data.update({k: v for k, v in output_urls(record).items() if v is not None})
    data.setdefault("video_url", None)
    return data


_FILTERS: dict[str, tuple[RecordState, ...]] = {
    "processing": ("processing",),
    "completed": ("completed",),
    "failed": ("failed",),
    "unknown": ("unknown", "submitting"),
}


async def atlas_list_jobs(
    ctx: Context[AppState],
    status: Annotated[
        Literal["processing", "completed", "failed", "unknown"] | None,
        Field(description="only this state"),
    ] = None,
    limit: Annotated[int, Field(ge=1, le=100, description="most returned")] = 20,
) -> JobList:
    """Paid jobs recorded here, newest first, across restarts (lost ids too);
    atlas_check_status finishes one."""
    book = state(ctx).book
    states = _FILTERS[status] if status is not None else None
    with tool_errors():
        if book.ledger is None:
            raise Refused(book.warning or "The job ledger is unavailable.")
        owner = user_of(ctx)
        records = await book.run(
            None, lambda ledger: ledger.recent(limit, state=states, owner=owner)
        )
        if records is None:
            raise Refused(f"The job ledger at {book.path} could not be read; see the logs.")
    return JobList(jobs=[summarise_job(r) for r in records], ledger=str(book.path))


async def job_resource(prediction_id: str, ctx: Context[AppState]) -> dict[str, Any]:
    """The ledger's record of one job, as JSON (the atlas://jobs/{prediction_id} resource)."""
    book = state(ctx).book
    if book.ledger is None:
        raise ResourceNotFoundError(book.warning or "The job ledger is unavailable.")
    record = await book.get(prediction_id)
    if record is None or record.owner != user_of(ctx):  # another user's job: unknown
        raise ResourceNotFoundError(
            f"No job {prediction_id!r} in the ledger at {book.path}; atlas_list_jobs "
            "lists the recorded ones with their prediction_id."
        )
    return job_document(record)


def register(mcp: MCPServer[Any]) -> None:
    """Add `atlas_list_jobs` and the `atlas://jobs/{prediction_id}` resource."""
    mcp.add_tool(
        atlas_list_jobs,
        title="Recorded Atlas jobs",
        annotations=ToolAnnotations(
            read_only_hint=True, idempotent_hint=True, open_world_hint=False
        ),
    )
    mcp.resource(
        "atlas://jobs/{prediction_id}",
        name="job",
        title="A recorded Atlas job",
        description="The ledger's record of one job (JSON).",
        mime_type="application/json",
    )(job_resource)
