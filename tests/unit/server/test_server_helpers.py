"""Pure helpers of the tool layer: the wait budget, compact schemas, result texts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

from atlas_mcp_py.atlas.models import Prediction
from atlas_mcp_py.config import Settings
from atlas_mcp_py.errors import (
    APIConnectionError,
    AtlasError,
    AuthenticationError,
    BadRequestError,
    InsufficientBalanceError,
    ModelUnavailableError,
    OutcomeUnknownError,
    ServerError,
    UploadSourceError,
    WrongBaseURLError,
)
from atlas_mcp_py.generation import (
    JobResult,
    elapsed_since,
    explain,
    human_size,
    job_result,
    wait_budget,
)
from atlas_mcp_py.server.results import job_text
from atlas_mcp_py.server.toolschema import compact_schema


def test_the_budget_is_the_smallest_of_setting_request_and_the_no_progress_cap() -> None:
    settings = Settings(max_wait_seconds=100)
    assert wait_budget(settings, None, has_progress=True) == 100
    assert wait_budget(settings, 30, has_progress=True) == 30
    assert wait_budget(settings, 500, has_progress=True) == 100
    assert wait_budget(settings, None, has_progress=False) == 25  # LlamaIndex stops at 30
    assert wait_budget(Settings(max_wait_seconds=20), None, has_progress=False) == 20


SCHEMA: dict[str, Any] = {
    "title": "Args",
    "type": "object",
    "properties": {
        "title": {"title": "Title", "type": "string"},
        "image": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "title": "I"},
        "wait": {"type": "boolean", "default": True},
        "params": {"anyOf": [{"type": "object", "additionalProperties": True}, {"type": "null"}]},
    },
    "required": ["title"],
}


def test_compact_schemas_accept_and_reject_exactly_what_the_original_does() -> None:
    small = compact_schema(SCHEMA)
    assert len(str(small)) < len(str(SCHEMA))
    assert "title" in small["properties"]  # a property named "title" survives
    assert small["properties"]["image"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert small["properties"]["wait"]["default"] is True
    cases: list[tuple[dict[str, Any], bool]] = [
        ({"title": "x"}, True),
        ({"title": "x", "image": None, "params": {"a": 1}}, True),
        ({"title": "x", "image": 3}, False),
        ({"title": "x", "params": "no"}, False),
        ({}, False),
    ]
    for instance, valid in cases:
        for schema in (SCHEMA, small):
            errors = list(jsonschema.Draft202012Validator(schema).iter_errors(instance))
            assert (not errors) is valid, (schema is small, instance)


def test_a_failed_job_quotes_a_trimmed_reason_with_its_code() -> None:
    long_reason = "bad " * 400
    result = job_result(
        Prediction(id="p", status="failed", error=long_reason, error_code="moderation"),
        model="m",
        elapsed=3.0,
    )
    assert result.status == "failed" and result.error is not None
    assert len(result.error) <= 500 and result.error.endswith("…")
    assert f'"{result.error}"' in job_text(result)


def test_a_running_job_text_says_how_to_resume_it() -> None:
    text = job_text(JobResult(prediction_id="abc", model="m", status="processing"))
    assert "atlas_check_status" in text and '"abc"' in text


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (AuthenticationError(401, "bad key"), "ATLASCLOUD_API_KEY"),
        (InsufficientBalanceError(402, "poor"), "Top up"),
        (OutcomeUnknownError("POST x: no answer"), "NOT resent"),
        (APIConnectionError("refused"), "Nothing was sent"),
        (UploadSourceError("photo.png shrank while it was being uploaded"), "upload again"),
    ],
)
def test_errors_say_what_to_do_next(error: AtlasError, expected: str) -> None:
    assert expected in explain(error, base_url="https://api.example")


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationError(401, "bad key", request_id="rq-1"),
        BadRequestError(400, "bad duration", request_id="rq-1"),
        ServerError(503, "busy", request_id="rq-1"),
        OutcomeUnknownError("POST x: no answer", request_id="rq-1"),
        WrongBaseURLError(401, "unauthorized", request_id="rq-1"),
        ModelUnavailableError(404, "no such model", request_id="rq-1"),
    ],
)
def test_every_atlas_error_message_carries_the_request_id_once(error: AtlasError) -> None:
    assert explain(error, base_url="https://api.example").count("rq-1") == 1


def test_the_new_atlas_errors_say_what_they_mean() -> None:
    wrong = explain(WrongBaseURLError(401, "x"), base_url="https://api.atlascloud.ai/api/v1")
    assert "ATLASCLOUD_BASE_URL (https://api.atlascloud.ai/api/v1)" in wrong
    assert "without /api/v1" in wrong
    gone = explain(ModelUnavailableError(404, "x"))
    assert "not available to this account" in gone and "Nothing was billed" in gone
    poor = explain(InsufficientBalanceError(402, "x"), balance="$0.05")
    assert "(available: $0.05)" in poor


def test_a_result_text_names_the_model_and_its_estimated_cost() -> None:
    done = JobResult(
        prediction_id="p",
        model="minimax/hailuo-02/t2v-standard",
        status="completed",
        video_url="https://v/1.mp4",
        estimated_cost_usd=0.196,
    )
    assert "(prediction p, minimax/hailuo-02/t2v-standard, estimated $0.20)" in job_text(done)
    running = done.model_copy(update={"status": "processing"})
    assert "(minimax/hailuo-02/t2v-standard, estimated $0.20) is still running" in job_text(running)


def test_elapsed_since_reads_iso_and_unix_timestamps() -> None:
    now = datetime(2026, 1, 1, 0, 1, 0, tzinfo=UTC)
    assert elapsed_since("2026-01-01T00:00:00Z", now) == 60.0
    assert elapsed_since(str(now.timestamp() - 30), now) == 30.0
    assert elapsed_since("yesterday", now) is None
    assert elapsed_since(None, now) is None


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (789, "789 bytes"),
        (56_000, "56 kB"),
        (3_400_000, "3.4 MB"),
        (1_200_000_000, "1.2 GB"),
    ],
)
def test_upload_progress_sizes_read_well_for_small_and_large_files(size: int, text: str) -> None:
    assert human_size(size) == text
