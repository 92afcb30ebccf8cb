"""The shape of one job in the ledger: `JobRecord`, its `JobState`, the prompt excerpt.

Shared by the SQLite `Ledger` (which writes and reads rows), the server's `JobBook`
and the tools that show jobs (`atlas_list_jobs`, `atlas://jobs/{id}`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from atlas_mcp_py.models import Prediction

__all__ = [
    "OUTPUT_RETENTION_HOURS",
    "STALE_SUBMITTING_SECONDS",
    "JobRecord",
    "JobState",
    "prompt_excerpt",
]

PROMPT_EXCERPT_CHARS = 200
STALE_SUBMITTING_SECONDS = 300.0
"""A row still `submitting` after this long belongs to a process that died mid-POST."""
OUTPUT_RETENTION_HOURS = 336
"""Atlas keeps a job's outputs 14 days (then their URLs answer 404), unless the generate
request asked for less (`X-AtlasCloud-Object-Expiration-Hours`)."""

JobState = Literal["submitting", "unknown", "processing", "completed", "failed"]
"""`submitting`: written before the POST; `unknown`: the POST may have created a job but
no id came back; the rest are Atlas's statuses, normalised."""


class JobRecord(BaseModel):
    """One row of the ledger."""

    ref: int
    """The row number: the only handle of a job whose prediction id never came back."""
    prediction_id: str | None
    api_root: str
    model: str
    status: str
    """The status exactly as last seen (or `submitting` / `unknown`)."""
    state: JobState
    params: dict[str, Any]
    """The request body as sent (without `model`)."""
    params_hash: str
    prompt: str
    """The first characters of the prompt."""
    created_at: float
    """Unix seconds."""
    updated_at: float
    completed_at: float | None = None
    estimated_cost_usd: float | None = None
    outputs: list[str] = []
    error: str | None = None
    local_path: str | None = None
    note: str | None = None
    pid: int | None = None
    request_id: str | None = None
    """`X-Request-ID` of the generate answer: Atlas support asks for it."""
    expires_at: float | None = None
    """Unix seconds after which Atlas no longer serves the job's outputs."""

    @property
    def video_url(self) -> str | None:
        return self.outputs[0] if self.state == "completed" and self.outputs else None

    def as_prediction(self) -> Prediction:
        """The row as a Prediction (what the server knew last), for a job with an id."""
        return Prediction(
            id=self.prediction_id or "",
            model=self.model,
            status=self.status,
            outputs=self.outputs,
            error=self.error,
        )


def prompt_excerpt(prompt: object) -> str:
    text = " ".join(prompt.split()) if isinstance(prompt, str) else ""
    return text if len(text) <= PROMPT_EXCERPT_CHARS else text[: PROMPT_EXCERPT_CHARS - 1] + "…"
