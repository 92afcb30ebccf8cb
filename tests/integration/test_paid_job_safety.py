"""Paid-job safety, end to end through the MCP tools against the simulator over loopback:
validation before billing, dry runs, the duplicate guard, lost answers recovered from
history, the ledger (and a broken one), cost confirmation, pacing."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers import MODES, PNG, simulator_settings, structured, text_of
from mcp import Client
from mcp.client.context import ClientRequestContext
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult

from atlas_mcp_py.config import Settings
from atlas_mcp_py.jobs.backend import open_ledger
from atlas_mcp_py.jobs.ledger import Ledger
from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.simulator import SIMULATOR_API_KEY, Fault, SimulatorServer

pytestmark = pytest.mark.anyio

SEEDANCE = "bytedance/seedance-v1-lite-i2v-1080p"
"""Image-to-video, per second; its schema document has only a request body schema."""
T2V = "minimax/hailuo-02/t2v-standard"
"""Where a prompt without a model or a frame goes."""


@dataclasses.dataclass(frozen=True)
class Kind:
    """One generate tool: every paid-job safety test that applies to both runs for each."""

    name: str
    tool: str
    model: str
    """The model of a prompt-only call (the tool's default)."""
    price: float
    path: str
    """The generate endpoint."""
    framed: dict[str, Any]
    """Arguments that add a local frame (uploaded once) to a prompt."""
    default: dict[str, Any]
    """A parameter spelled out at its default value (the same request as without it)."""


KINDS = {
    "video": Kind(
        "video",
        "atlas_generate_video",
        T2V,
        0.196,
        "/api/v1/model/generateVideo",
        {"image": "photo.png"},
        {"go_fast": True},
    ),
    "image": Kind(
        "image",
        "atlas_generate_image",
        "google/nano-banana/text-to-image",
        0.039,
        "/api/v1/model/generateImage",
        {"model": "google/nano-banana/edit", "image": "photo.png"},
        {"aspect_ratio": "16:9"},
    ),
}
CONFIRM_BELOW_BOTH = 0.03
"""A cost-confirmation limit both kinds' default models are above."""


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> Kind:
    return KINDS[request.param]


@pytest.fixture
def sim_job_seconds() -> float:
    return 0.4


DATABASES: dict[Path, str] = {}
"""The PostgreSQL ledger of a test's state dir, when it runs on PostgreSQL."""


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_backend(request: pytest.FixtureRequest) -> str:
    """Every paid-job safety test runs on both ledgers."""
    return str(request.param)


@pytest.fixture
def state_dir(tmp_path: Path, ledger_backend: str, request: pytest.FixtureRequest) -> Path:
    path = tmp_path / "ledger-state"
    if ledger_backend == "postgres":
        DATABASES[path] = request.getfixturevalue("postgres").new_database()
    return path


def make_settings(
    sim: SimulatorServer, workspace: Path, state_dir: Path, **overrides: Any
) -> Settings:
    url = DATABASES.get(state_dir)
    return simulator_settings(sim, workspace, state_dir=state_dir, database_url=url, **overrides)


async def eventually(condition: Callable[[], bool]) -> None:
    """Return once `condition()` holds (callers bound the wait with fail_after)."""
    while True:
        if condition():
            return
        await anyio.sleep(0.01)


def head_of(path: Path) -> bytes:
    return path.read_bytes()[:2]


def ledger_rows(state_dir: Path) -> list[Any]:
    location = DATABASES.get(state_dir) or Ledger.default_path(state_dir)
    with contextlib.closing(open_ledger(location)) as ledger:
        return ledger.recent(100)


# -- validation and dry runs -----------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments", "named"),
    [
        (
            "atlas_generate_video",
            {"prompt": "a cat", "duration": 7},
            "'duration' must be one of 6, 10, got 7",
        ),
        (
            "atlas_generate_video",
            {"prompt": "a cat", "params": {"fps": 30}},
            "unknown parameter 'fps'",
        ),
        (
            "atlas_generate_video",
            {"prompt": "a cat", "model": SEEDANCE, "image": "photo.png", "duration": 0},
            "'duration' must be at least 1, got 0",
        ),
        (
            "atlas_generate_video",
            {"prompt": "a", "image": "photo.png", "params": {"enable_sync_mode": True}},
            "'enable_sync_mode' is set by Atlas itself",
        ),
        (
            "atlas_generate_video",
            {"prompt": "x" * 2001},
            "'prompt' must be at most 2000 characters",
        ),
        (
            "atlas_generate_image",
            {"prompt": "a cat", "params": {"aspect_ratio": "7:3"}},
            "'aspect_ratio' must be one of",
        ),
        (
            "atlas_generate_image",
            {"prompt": "a cat", "params": {"fps": 30}},
            "unknown parameter 'fps'",
        ),
        (
            "atlas_generate_image",
            {"prompt": "x" * 2001},
            "'prompt' must be at most 2000 characters",
        ),
    ],
)
async def test_invalid_arguments_name_the_argument_list_the_accepted_ones_and_send_nothing(
    sim: SimulatorServer,
    workspace: Path,
    state_dir: Path,
    tool: str,
    arguments: dict[str, Any],
    named: str,
) -> None:
    async with Client(build_server(make_settings(sim, workspace, state_dir))) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error
    assert named in text_of(result)
    assert "Accepted parameters: " in text_of(result)
    assert "prompt, " in text_of(result).split("Accepted parameters: ")[1]
    assert "Nothing was sent" in text_of(result)
    assert sim.state.count("generate") == 0
    assert sim.state.count("upload") == 0
    assert ledger_rows(state_dir) == []


DRY_RUNS: dict[str, tuple[dict[str, Any], dict[str, Any], float]] = {
    "video": (
        {"model": SEEDANCE, "image": "photo.png", "duration": "8"},
        # "8": plainly meant as the integer the schema wants; the path not uploaded
        {"model": SEEDANCE, "image": "photo.png", "duration": 8},
        0.036 * 8,
    ),
    "image": (
        {
            "model": "google/nano-banana/edit",
            "image": "photo.png",
            "params": {"aspect_ratio": "1:1"},
        },
        {"model": "google/nano-banana/edit", "images": ["photo.png"], "aspect_ratio": "1:1"},
        0.039,
    ),
}


@pytest.mark.parametrize("mode", MODES)
async def test_dry_run_shows_the_exact_body_and_estimate_and_sends_nothing(
    sim: SimulatorServer, workspace: Path, state_dir: Path, mode: str, kind: Kind
) -> None:
    arguments, request, cost = DRY_RUNS[kind.name]
    async with Client(build_server(make_settings(sim, workspace, state_dir)), mode=mode) as c:
        result = await c.call_tool(kind.tool, {"prompt": "a boat", **arguments, "dry_run": True})
    data = structured(result)
    assert not result.is_error, text_of(result)
    assert data["status"] == "dry_run"
    assert data["request"] == {"prompt": "a boat", **request}
    assert data["estimated_cost_usd"] == pytest.approx(cost)
    assert "nothing was sent" in text_of(result).lower()
    assert sim.state.count("generate") == sim.state.count("upload") == 0


async def test_a_required_parameter_left_out_is_filled_with_its_default(
    sim: SimulatorServer, workspace: Path, state_dir: Path
) -> None:
    spec = sim.state.find_model(T2V)
    assert spec is not None
    at = sim.state.catalog.index(spec)
    sim.state.catalog[at] = dataclasses.replace(spec, required=("prompt", "duration"))
    async with Client(build_server(make_settings(sim, workspace, state_dir))) as client:
        result = await client.call_tool("atlas_generate_video", {"prompt": "a cat", "wait": False})
    assert not result.is_error, text_of(result)
    (job,) = sim.state.predictions.values()
    assert job.params["duration"] == 6
    assert "Filled the required duration" in text_of(result)


async def test_an_unreachable_schema_does_not_block_the_job_but_says_it_was_not_checked(
    sim: SimulatorServer, workspace: Path, state_dir: Path, kind: Kind
) -> None:
    sim.state.add_fault(Fault(endpoint="schema", kind="json_error", status=500, times=5))
    async with Client(build_server(make_settings(sim, workspace, state_dir))) as client:
        result = await client.call_tool(kind.tool, {"prompt": "a cat"})
    assert not result.is_error, text_of(result)
    assert structured(result)["status"] == "completed"
    assert any("not checked" in note for note in structured(result)["notes"])
    assert "validated" not in text_of(result)
    assert sim.state.count("generate") == 1


# -- the ledger ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_every_job_is_recorded_before_the_wait_and_updated_with_what_was_seen(
    sim: SimulatorServer, workspace: Path, state_dir: Path, mode: str, kind: Kind
) -> None:
    settings = make_settings(sim, workspace, state_dir)
    async with Client(build_server(settings), mode=mode) as client:
        result = await client.call_tool(
            kind.tool, {"prompt": "a red fox [sim:never]", "wait": False}
        )
        pid = structured(result)["prediction_id"]
        (row,) = ledger_rows(state_dir)  # written before anything waited
        assert row.prediction_id == pid and row.state == "processing"
        sim.state.complete(pid)
        done = await client.call_tool("atlas_check_status", {"prediction_id": pid, "wait": True})
        listed = await client.call_tool("atlas_list_jobs", {})
        resource = await client.read_resource(f"atlas://jobs/{pid}")
    assert structured(done)["status"] == "completed"
    assert structured(result)["estimated_cost_usd"] == pytest.approx(kind.price)
    (row,) = ledger_rows(state_dir)
    assert row.state == "completed" and row.completed_at is not None
    assert row.outputs == structured(done)["outputs"]
    assert row.model == kind.model
    assert row.prompt == "a red fox [sim:never]"
    assert row.estimated_cost_usd == pytest.approx(kind.price)
    assert row.request_id and row.request_id == sim.state.predictions[pid].request_id
    assert row.params == {"prompt": "a red fox [sim:never]"}
    assert len(row.params_hash) == 64
    (job,) = structured(listed)["jobs"]
    assert job["prediction_id"] == pid and job["status"] == "completed"
    assert job[f"{kind.name}_url"] == structured(done)[f"{kind.name}_url"]
    document = json.loads(getattr(resource.contents[0], "text", ""))
    assert document["prediction_id"] == pid and document["state"] == "completed"
    assert document["request_id"] == row.request_id
    assert document["expires_at"].endswith("Z") and job["expires"] == document["expires_at"]


async def test_list_jobs_filters_by_state_and_limits(
    sim: SimulatorServer, workspace: Path, state_dir: Path
) -> None:
    async with Client(build_server(make_settings(sim, workspace, state_dir))) as client:
        for n in range(3):
            await client.call_tool("atlas_generate_video", {"prompt": f"job {n}"})
        await client.call_tool("atlas_generate_video", {"prompt": "bad [sim:fail]"})
        failed = await client.call_tool("atlas_list_jobs", {"status": "failed"})
        newest = await client.call_tool("atlas_list_jobs", {"limit": 2})
    assert [j["prompt"] for j in structured(failed)["jobs"]] == ["bad [sim:fail]"]
    assert "failed" in structured(failed)["jobs"][0]["error"].lower()
    assert [j["prompt"] for j in structured(newest)["jobs"]] == ["bad [sim:fail]", "job 2"]


@pytest.fixture
def corrupt_ledger(state_dir: Path) -> Path:
    state_dir.mkdir()
    path = Ledger.default_path(state_dir)
    path.write_bytes(b"\x13\x37 not a database at all " * 64)
    return path


@pytest.mark.parametrize("ledger_backend", ["sqlite"])  # a damaged file
async def test_a_corrupt_ledger_refuses_generate_with_the_fix_and_other_tools_keep_working(
    sim: SimulatorServer, workspace: Path, state_dir: Path, corrupt_ledger: Path, tmp_path: Path
) -> None:
    async with Client(build_server(make_settings(sim, workspace, tmp_path / "ok"))) as other:
        elsewhere = structured(await other.call_tool("atlas_generate_video", {"prompt": "a dog"}))
    async with Client(build_server(make_settings(sim, workspace, state_dir))) as client:
        models = await client.call_tool("atlas_list_models", {})
        upload = await client.call_tool("atlas_upload_media", {"path": "photo.png"})
        refused = await client.call_tool("atlas_generate_video", {"prompt": "a cat"})
        status = await client.call_tool(
            "atlas_check_status", {"prediction_id": elsewhere["prediction_id"]}
        )
        listed = await client.call_tool("atlas_list_jobs", {})
    assert not models.is_error and not upload.is_error
    # a paid job is sent only once it can be written down: nothing was sent
    assert refused.is_error
    assert "Nothing was sent or billed" in text_of(refused)
    assert "ATLAS_MCP_STATE_DIR" in text_of(refused) and str(state_dir) in text_of(refused)
    assert sim.state.count("generate") == 1  # the other server's job only
    assert not status.is_error, text_of(status)
    assert structured(status)["status"] == "completed"
    assert any("job ledger is unavailable" in n for n in structured(status)["notes"])
    assert listed.is_error
    assert "ATLAS_MCP_STATE_DIR" in text_of(listed)
    assert head_of(corrupt_ledger) == b"\x13\x37"  # left untouched


async def test_a_state_dir_that_cannot_be_created_refuses_generate_not_the_server(
    sim: SimulatorServer, workspace: Path, tmp_path: Path
) -> None:
    # Root ignores file modes, so "read-only" is made with a state dir under a regular
    # file: mkdir fails there for every user.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings = make_settings(sim, workspace, blocker / "state")
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("atlas_generate_video", {"prompt": "a cat"})
        upload = await client.call_tool("atlas_upload_media", {"path": "photo.png"})
    assert result.is_error and "Nothing was sent or billed" in text_of(result)
    assert "ATLAS_MCP_STATE_DIR" in text_of(result)
    assert sim.state.count("generate") == 0
    assert not upload.is_error


# -- the duplicate guard ---------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_an_identical_generate_returns_the_earlier_job_instead_of_paying_again(
    sim: SimulatorServer, workspace: Path, state_dir: Path, mode: str, kind: Kind
) -> None:
    arguments = {"prompt": "a fox", **kind.framed}
    async with Client(build_server(make_settings(sim, workspace, state_dir)), mode=mode) as c:
        first = await c.call_tool(kind.tool, arguments)
        # the same request, spelled differently: the default spelled out, same file content
        (workspace / "copy.png").write_bytes(PNG)
        again = await c.call_tool(
            kind.tool, {**arguments, "image": "copy.png", "params": kind.default}
        )
    url = f"{kind.name}_url"
    assert sim.state.count("generate") == 1
    assert structured(again)["prediction_id"] == structured(first)["prediction_id"]
    assert structured(again)["status"] == "completed"
    assert structured(again)[url] == structured(first)[url]
    assert "Not sent again" in text_of(again)
    assert "allow_duplicate" in text_of(again)
    assert any("Not sent again" in n for n in structured(again)["notes"])


async def test_two_identical_generates_arriving_together_make_one_post(
    sim: SimulatorServer, workspace: Path, state_dir: Path, kind: Kind
) -> None:
    results: list[CallToolResult] = []
    async with Client(build_server(make_settings(sim, workspace, state_dir))) as client:

        async def generate() -> None:
            results.append(await client.call_tool(kind.tool, {"prompt": "twins", **kind.framed}))

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(generate)
    assert sim.state.count("generate") == 1
    assert sim.state.count("upload") == 1
    ids = {structured(r)["prediction_id"] for r in results}
    assert len(ids) == 1 and None not in ids
    assert sum("Not sent again" in text_of(r) for r in results) == 2


async def test_allow_duplicate_pays_again_and_a_failed_earlier_job_does_not_count(
    sim: SimulatorServer, workspace: Path, state_dir: Path, kind: Kind
) -> None:
    async with Client(build_server(make_settings(sim, workspace, state_dir))) as client:
        await client.call_tool(kind.tool, {"prompt": "a cat"})
        forced = await client.call_tool(kind.tool, {"prompt": "a cat", "allow_duplicate": True})
        await client.call_tool(kind.tool, {"prompt": "oops [sim:fail]"})
        retried = await client.call_tool(kind.tool, {"prompt": "oops [sim:fail]"})
    assert sim.state.count("generate") == 4
    assert "Not sent again" not in text_of(forced)
    assert "Not sent again" not in text_of(retried)


async def test_the_duplicate_window_is_configurable(
    sim: SimulatorServer, workspace: Path, state_dir: Path
) -> None:
    settings = make_settings(sim, workspace, state_dir, duplicate_window_seconds=0)
    async with Client(build_server(settings)) as client:
        for _ in range(2):
            await client.call_tool("atlas_generate_video", {"prompt": "a cat", "wait": False})
    assert sim.state.count("generate") == 2


# -- lost answers ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_a_read_timeout_on_the_post_sends_once_and_history_finds_the_job(
    sim: SimulatorServer, workspace: Path, state_dir: Path, mode: str, kind: Kind
) -> None:
    sim.state.add_fault(Fault(endpoint="generate", kind="slow", delay=1.5))
    settings = make_settings(sim, workspace, state_dir, read_timeout=0.3)
    async with Client(build_server(settings), mode=mode) as client:
        result = await client.call_tool(kind.tool, {"prompt": "a slow fox"})
    assert sim.state.count("generate") == 1
    assert sim.state.count("history") >= 1
    (job_id,) = sim.state.predictions
    data = structured(result)
    assert not result.is_error, text_of(result)
    assert data["prediction_id"] == job_id
    assert data["status"] == "completed"
    assert "found in Atlas's history" in text_of(result)
    (row,) = ledger_rows(state_dir)
    assert row.prediction_id == job_id and row.state == "completed"


async def test_a_lost_answer_not_in_history_is_reported_unknown_recorded_and_never_resent(
    sim: SimulatorServer, workspace: Path, state_dir: Path, kind: Kind
) -> None:
    # a 5xx without an id: Atlas may or may not have made the job (here: it did not)
    sim.state.add_fault(Fault(endpoint="generate", kind="json_error", status=502))
    async with Client(build_server(make_settings(sim, workspace, state_dir))) as client:
        result = await client.call_tool(kind.tool, {"prompt": "a lost cat"})
        again = await client.call_tool(kind.tool, {"prompt": "a lost cat"})
        listed = await client.call_tool("atlas_list_jobs", {"status": "unknown"})
        forced = await client.call_tool(
            kind.tool, {"prompt": "a lost cat", "allow_duplicate": True}
        )
    text = text_of(result)
    assert result.is_error
    assert "outcome of this generate request is unknown" in text
    assert "NOT resent" in text
    assert '"prompt": "a lost cat"' in text and kind.path in text
    assert "atlas_list_jobs" in text and "atlas_check_status" in text
    assert "dashboard" in text
    assert SIMULATOR_API_KEY not in text
    assert again.is_error and "unknown outcome" in text_of(again)  # not paid twice either
    (unknown,) = structured(listed)["jobs"]
    assert unknown["status"] == "unknown" and unknown["prediction_id"] is None
    assert unknown["prompt"] == "a lost cat"
    assert not forced.is_error
    assert sim.state.count("generate") == 2  # the first, and the one forced


async def test_a_dropped_connection_on_the_post_is_recovered_from_history(
    sim: SimulatorServer, workspace: Path, state_dir: Path, kind: Kind
) -> None:
    sim.state.add_fault(Fault(endpoint="generate", kind="drop"))
    async with Client(build_server(make_settings(sim, workspace, state_dir))) as client:
        result = await client.call_tool(kind.tool, {"prompt": "dropped", "wait": False})
    (job_id,) = sim.state.predictions
    assert structured(result)["prediction_id"] == job_id
    assert sim.state.count("generate") == 1


# -- cost confirmation -----------------------------------------------------------------


def elicitation(action: str, approve: bool = True) -> Any:
    asked: list[str] = []

    async def callback(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        if action == "accept":
            return ElicitResult(action="accept", content={"approve": approve})
        return ElicitResult(action=action)

    callback.asked = asked  # type: ignore[attr-defined]
    return callback


@pytest.mark.parametrize("mode", MODES)
async def test_above_the_confirm_limit_the_person_is_asked_and_an_accept_sends_the_job(
    sim: SimulatorServer, workspace: Path, state_dir: Path, mode: str, kind: Kind
) -> None:
    settings = make_settings(sim, workspace, state_dir, confirm_above_usd=CONFIRM_BELOW_BOTH)
    callback = elicitation("accept")
    async with Client(build_server(settings), mode=mode, elicitation_callback=callback) as c:
        result = await c.call_tool(kind.tool, {"prompt": "pricey", "wait": False})
    assert not result.is_error, text_of(result)
    (question,) = callback.asked
    assert f"${kind.price:.2f}" in question and "$0.03" in question and "pricey" in question
    assert f"Generate a{'n' if kind.name == 'image' else ''} {kind.name}" in question
    assert "balance: $100.00" in question
    assert sim.state.count("generate") == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("action", "approve"), [("decline", True), ("accept", False)])
async def test_a_declined_cost_sends_nothing(
    sim: SimulatorServer,
    workspace: Path,
    state_dir: Path,
    mode: str,
    action: str,
    approve: bool,
    kind: Kind,
) -> None:
    settings = make_settings(sim, workspace, state_dir, confirm_above_usd=CONFIRM_BELOW_BOTH)
    callback = elicitation(action, approve)
    async with Client(build_server(settings), mode=mode, elicitation_callback=callback) as c:
        result = await c.call_tool(kind.tool, {"prompt": "pricey"})
    assert result.is_error
    assert "nothing was sent" in text_of(result)
    assert sim.state.count("generate") == 0


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_that_cannot_ask_is_told_to_pass_confirm_cost(
    sim: SimulatorServer, workspace: Path, state_dir: Path, mode: str, kind: Kind
) -> None:
    settings = make_settings(sim, workspace, state_dir, confirm_above_usd=CONFIRM_BELOW_BOTH)
    async with Client(build_server(settings), mode=mode) as client:
        refused = await client.call_tool(kind.tool, {"prompt": "pricey"})
        assert sim.state.count("generate") == 0
        confirmed = await client.call_tool(
            kind.tool, {"prompt": "pricey", "confirm_cost": True, "wait": False}
        )
    assert refused.is_error
    assert "confirm_cost: true" in text_of(refused) and f"${kind.price:.2f}" in text_of(refused)
    assert not confirmed.is_error
    assert sim.state.count("generate") == 1


async def test_under_the_confirm_limit_nobody_is_asked(
    sim: SimulatorServer, workspace: Path, state_dir: Path, kind: Kind
) -> None:
    settings = make_settings(sim, workspace, state_dir, confirm_above_usd=0.5)
    callback = elicitation("decline")
    async with Client(build_server(settings), elicitation_callback=callback) as client:
        result = await client.call_tool(kind.tool, {"prompt": "cheap", "wait": False})
    assert not result.is_error
    assert callback.asked == []


# -- pacing ----------------------------------------------------------------------------


async def test_calls_beyond_the_in_flight_limit_wait_their_turn_with_queue_progress(
    sim: SimulatorServer, workspace: Path, state_dir: Path
) -> None:
    settings = make_settings(sim, workspace, state_dir, max_in_flight=1)
    sim.state.add_fault(Fault(endpoint="generate", kind="slow", delay=1.0))
    messages: list[str] = []
    results: dict[str, CallToolResult] = {}

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    async with Client(build_server(settings)) as client:

        async def first() -> None:
            results["first"] = await client.call_tool(
                "atlas_generate_video",
                {"prompt": "holds the slot while it is sent"},
                progress_callback=on_progress,
            )

        async def second() -> None:
            results["second"] = await client.call_tool(
                "atlas_generate_video", {"prompt": "waits its turn"}, progress_callback=on_progress
            )

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(first)
                await eventually(lambda: sim.state.count("generate") == 1)  # a slow answer
                tg.start_soon(second)
    assert structured(results["first"])["status"] == "completed"
    assert structured(results["second"])["status"] == "completed"
    assert any(m.startswith("queued locally, 0 ahead") for m in messages)
    generates = [r for r in sim.state.requests if r.endpoint == "generate"]
    assert len(generates) == 2
    assert generates[1].time - generates[0].time >= 0.9  # only after the first was answered


async def test_a_job_being_waited_on_does_not_hold_a_slot(
    sim: SimulatorServer, workspace: Path, state_dir: Path
) -> None:
    settings = make_settings(sim, workspace, state_dir, max_in_flight=1)
    messages: list[str] = []
    results: dict[str, CallToolResult] = {}

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    async with Client(build_server(settings)) as client:

        async def waiting() -> None:
            results["waiting"] = await client.call_tool(
                "atlas_generate_video",
                {"prompt": "[sim:never]", "max_wait_seconds": 3.0},
            )

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(waiting)
                # polled: the first call is waiting on its job (its slot was released
                # before the wait began; its POST alone does not say that yet)
                await eventually(lambda: sim.state.count("prediction") >= 1)
                second = await client.call_tool(
                    "atlas_generate_video",
                    {"prompt": "sent while the first is waited on", "wait": False},
                    progress_callback=on_progress,
                )
                assert "waiting" not in results  # the first call still waits on its job
    assert structured(second)["status"] == "processing" and not second.is_error
    assert not any(m.startswith("queued locally") for m in messages)
    assert sim.state.count("generate") == 2
    assert structured(results["waiting"])["status"] == "processing"


async def test_a_429_slows_the_next_request_of_every_call(
    sim: SimulatorServer, workspace: Path, state_dir: Path
) -> None:
    settings = make_settings(sim, workspace, state_dir, max_retries=0)
    async with Client(build_server(settings)) as client:
        job = await client.call_tool("atlas_generate_video", {"prompt": "a cat", "wait": False})
        pid = structured(job)["prediction_id"]
        sim.state.add_fault(Fault(endpoint="prediction", kind="rate_limit", retry_after="0.6"))
        limited = await client.call_tool("atlas_check_status", {"prediction_id": pid})
        later = await client.call_tool("atlas_check_status", {"prediction_id": pid})
    assert limited.is_error and "429" in text_of(limited)
    assert not later.is_error
    polls = [r for r in sim.state.requests if r.endpoint == "prediction"]
    assert len(polls) == 2
    assert polls[1].time - polls[0].time >= 0.55


async def test_a_call_whose_budget_ends_in_the_local_queue_sends_nothing_and_says_so(
    sim: SimulatorServer, workspace: Path, state_dir: Path
) -> None:
    settings = make_settings(sim, workspace, state_dir, max_in_flight=1)
    sim.state.add_fault(Fault(endpoint="generate", kind="slow", delay=2.0))
    results: dict[str, CallToolResult] = {}
    async with Client(build_server(settings)) as client:

        async def holder() -> None:
            results["holder"] = await client.call_tool(
                "atlas_generate_video", {"prompt": "answered slowly"}
            )

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(holder)
                await eventually(lambda: sim.state.count("generate") == 1)
                impatient = await client.call_tool(
                    "atlas_generate_video", {"prompt": "in a hurry", "max_wait_seconds": 0.3}
                )
    assert impatient.is_error
    assert "Not sent" in text_of(impatient) and "ATLAS_MCP_MAX_IN_FLIGHT=1" in text_of(impatient)
    assert sim.state.count("generate") == 1
    assert structured(results["holder"])["status"] == "completed"


async def test_a_saved_video_has_its_local_path_in_the_ledger(
    sim: SimulatorServer, workspace: Path, state_dir: Path
) -> None:
    async with Client(build_server(make_settings(sim, workspace, state_dir))) as client:
        result = await client.call_tool(
            "atlas_generate_video", {"prompt": "keep it", "save_to": "out/keep.mp4"}
        )
        listed = await client.call_tool("atlas_list_jobs", {})
    assert not result.is_error, text_of(result)
    saved = structured(result)["local_path"]
    assert saved and saved.endswith("keep.mp4")
    (row,) = ledger_rows(state_dir)
    assert row.local_path == saved
    assert structured(listed)["jobs"][0]["local_path"] == saved
