"""The Tasks extension's wire shapes this server sends, against the published schema,
and who a request comes from."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from task_schema import check

from atlas_mcp_py.server.identity import IDENTITY_SCOPE_KEY, caller_identity, token_identity
from atlas_mcp_py.server.task_wire import TaskView, client_wants_tasks


def view(status: str, **extra: Any) -> TaskView:
    return TaskView(
        task_id="task-1",
        status=status,
        created_at="2026-12-07T04:00:00Z",
        last_updated_at="2026-12-07T04:00:01Z",
        ttl_ms=1000,
        **extra,
    )


@pytest.mark.parametrize(
    ("status", "extra", "definition"),
    [
        (
            "working",
            {"status_message": "Atlas: processing · 4 s", "poll_interval_ms": 500},
            "WorkingTask",
        ),
        (
            "input_required",
            {
                "input_requests": {
                    "k": {
                        "method": "elicitation/create",
                        "params": {
                            "message": "ok?",
                            "requestedSchema": {"type": "object", "properties": {}},
                        },
                    }
                }
            },
            "InputRequiredTask",
        ),
        ("completed", {"result": {"content": [], "isError": False}}, "CompletedTask"),
        ("failed", {"error": {"code": -32603, "message": "x"}}, "FailedTask"),
        ("cancelled", {"status_message": "Cancelled"}, "CancelledTask"),
    ],
)
def test_each_status_has_only_its_own_payload_and_matches_the_schema(
    status: str, extra: dict[str, Any], definition: str
) -> None:
    stray: dict[str, Any] = {"result": {"content": []}}  # a payload other statuses must not show
    task = view(status, **{**stray, **extra})
    detailed = task.detailed()
    check(definition, detailed)
    check("GetTaskResult", task.got())
    check("CreateTaskResult", task.created())
    assert ("result" in detailed) == (status == "completed")
    assert "inputRequests" not in task.created()


def test_ttl_null_means_unlimited() -> None:
    task = view("working")
    task.ttl_ms = None
    assert task.detailed()["ttlMs"] is None
    check("GetTaskResult", task.got())


def test_the_capability_is_read_from_the_requests_own_meta() -> None:
    caps = "io.modelcontextprotocol/clientCapabilities"
    wants: dict[str, Any] = {"_meta": {caps: {"extensions": {"io.modelcontextprotocol/tasks": {}}}}}
    assert client_wants_tasks(wants)
    assert not client_wants_tasks({"_meta": {caps: {"extensions": {}}}})
    assert not client_wants_tasks({"_meta": {caps: {}}})
    assert not client_wants_tasks({})
    assert not client_wants_tasks(None)


def test_a_caller_is_its_token_holder_over_http_and_the_one_client_on_stdio() -> None:
    named = SimpleNamespace(scope={IDENTITY_SCOPE_KEY: token_identity(b"secret-1")})
    assert caller_identity(None) == "stdio"
    assert caller_identity(SimpleNamespace(scope={})) == "http:anonymous"
    assert caller_identity(named) == token_identity(b"secret-1") != token_identity(b"secret-2")
    assert "secret" not in token_identity(b"secret-1")
