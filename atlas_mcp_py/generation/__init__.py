"""The use cases of a paid job, free of MCP: generate, follow, finish.

Above `jobs/` and `files/` (which know nothing of each other), below `server/`: this
room is where a generate call's steps meet. `generate` runs the whole paid call (plan,
confirm, open and check the local files, upload, submit once, wait, save); `prepare`,
`submit` and `see_through` are its steps for a caller that returns before the job ends;
`follow` finds a job by id, waits on it and finishes it; `upload_local` uploads one file.
What differs per caller (a blocking tool call, a background task, a test) comes in as
`Hooks`: progress, cost confirmation, roots, stop, clock. `Services` are what all calls
share. Refusals are exceptions of `atlas_mcp_py.errors`; `explain` words Atlas's.
"""

from atlas_mcp_py.generation.explaining import balance_text, explain
from atlas_mcp_py.generation.finishing import expired, expiry_note, finish
from atlas_mcp_py.generation.following import follow, wait_for_job
from atlas_mcp_py.generation.hooks import ConfirmFn, Hooks, ProgressFn, RootsFn, no_progress
from atlas_mcp_py.generation.outcome import (
    JobResult,
    absent_when_null,
    elapsed_since,
    job_result,
)
from atlas_mcp_py.generation.paid import (
    GenerateRequest,
    Prepared,
    Started,
    generate,
    prepare,
    see_through,
    submit,
)
from atlas_mcp_py.generation.saving import save_job_result
from atlas_mcp_py.generation.services import Services, wait_budget
from atlas_mcp_py.generation.sources import human_size, upload_local

__all__ = [
    "ConfirmFn",
    "GenerateRequest",
    "Hooks",
    "JobResult",
    "Prepared",
    "ProgressFn",
    "RootsFn",
    "Services",
    "Started",
    "absent_when_null",
    "balance_text",
    "elapsed_since",
    "expired",
    "expiry_note",
    "explain",
    "finish",
    "follow",
    "generate",
    "human_size",
    "job_result",
    "no_progress",
    "prepare",
    "save_job_result",
    "see_through",
    "submit",
    "upload_local",
    "wait_budget",
    "wait_for_job",
]
