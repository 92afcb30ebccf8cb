"""Paid jobs: the ledger, the plan, submit-once, the wait. Knows no MCP."""

from atlas_mcp_py.jobs.backend import (
    JobLedger,
    TaskBackend,
    is_postgres_url,
    migrate_to_postgres,
    open_ledger,
    open_task_store,
    shown_location,
)
from atlas_mcp_py.jobs.book import JobBook
from atlas_mcp_py.jobs.durations import DurationHistory, ModelDurations, durations_from_ledger
from atlas_mcp_py.jobs.ledger import Claim, Ledger
from atlas_mcp_py.jobs.pacing import QueueFn
from atlas_mcp_py.jobs.plan import GenerateArgs, Plan, cost_summary, make_plan
from atlas_mcp_py.jobs.records import (
    OUTPUT_RETENTION_HOURS,
    STALE_SUBMITTING_SECONDS,
    JobRecord,
    RecordState,
    seen_completed,
)
from atlas_mcp_py.jobs.submit import Submitted, Submitter
from atlas_mcp_py.jobs.tasks import FINISHING, TaskRecord, TaskStore, new_task_id
from atlas_mcp_py.jobs.wait import PollSchedule, WaitSpec, progress_message, wait_for_prediction

__all__ = [
    "FINISHING",
    "OUTPUT_RETENTION_HOURS",
    "STALE_SUBMITTING_SECONDS",
    "Claim",
    "DurationHistory",
    "GenerateArgs",
    "JobBook",
    "JobLedger",
    "JobRecord",
    "Ledger",
    "ModelDurations",
    "Plan",
    "PollSchedule",
    "QueueFn",
    "RecordState",
    "Submitted",
    "Submitter",
    "TaskBackend",
    "TaskRecord",
    "TaskStore",
    "WaitSpec",
    "cost_summary",
    "durations_from_ledger",
    "is_postgres_url",
    "make_plan",
    "migrate_to_postgres",
    "new_task_id",
    "open_ledger",
    "open_task_store",
    "progress_message",
    "seen_completed",
    "shown_location",
    "wait_for_prediction",
]
