"""AtlasClient against the Atlas simulator over real loopback sockets.

Faults are scripted on the simulator's state; nothing here waits on a sleep except the
Retry-After test, which is about waiting.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from atlas_mcp_py.atlas.client import AtlasClient
from atlas_mcp_py.atlas.models import Prediction
from atlas_mcp_py.atlas.retry import RetryPolicy
from atlas_mcp_py.config import Settings
from atlas_mcp_py.errors import (
    APIConnectionError,
    AtlasError,
    AuthenticationError,
    OutcomeUnknownError,
    RateLimitError,
)
from atlas_mcp_py.simulator import Fault, SimulatorServer, SimulatorState

pytestmark = pytest.mark.anyio

KEY = "sk-sim-INTEGRATION-9d3e1f0c5a7b"
MODEL = "minimax/hailuo-02/t2v-standard"
"""Text-to-video: a prompt is all it needs."""
I2V_MODEL = "minimax/hailuo-02/fast"
HIDDEN_MODEL = "kwaivgi/kling-v2.0-i2v-master"
FAST = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_cap=0.05)
"""Real sleeps, but short: the retries happen over the wire, the backoff is not the point."""


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    state = SimulatorState(job_seconds=0.5, api_key=KEY)
    with SimulatorServer(state) as server:
        yield server
    state.close()


def settings_for(base_url: str, key: str = KEY, **overrides: Any) -> Settings:
    return Settings.from_env(
        {"ATLASCLOUD_API_KEY": key, "ATLASCLOUD_BASE_URL": base_url}, **overrides
    )


def client_for(sim: SimulatorServer, **overrides: Any) -> AtlasClient:
    return AtlasClient(settings_for(sim.base_url, **overrides), policy=FAST)


async def wait_until_done(client: AtlasClient, prediction: Prediction) -> Prediction:
    with anyio.fail_after(10):
        while prediction.state == "processing":
            await anyio.sleep(0.05)
            prediction = await client.get_prediction(prediction.id)
    return prediction


async def finished_job(client: AtlasClient) -> str:
    """The id of a job that is already complete."""
    prediction = await client.generate("video", MODEL, {"prompt": "a lighthouse [sim:seconds=0]"})
    return prediction.id


async def test_full_flow_from_catalog_to_completed_video_outputs(sim: SimulatorServer) -> None:
    async with client_for(sim) as client:
        models = await client.list_models()
        ids = [m.id for m in models]
        assert MODEL in ids
        assert HIDDEN_MODEL not in ids
        hailuo = next(m for m in models if m.id == I2V_MODEL)
        assert hailuo.type == "video"
        assert hailuo.price == pytest.approx(0.1)
        assert "IMAGE-TO-VIDEO" in hailuo.categories

        # the schema, from the other host: Input is a $ref, duration a $ref property,
        # enable_sync_mode hidden
        schema = await client.get_input_schema(I2V_MODEL)
        assert schema is not None
        assert "image" in schema.schema["required"]
        assert schema.schema["properties"]["duration"]["enum"] == [6, 10]
        assert "enable_sync_mode" in schema.hidden
        assert "resolution" not in schema.schema["properties"]

        submitted = await client.generate("video", MODEL, {"prompt": "a red fox", "duration": 6})
        assert submitted.state == "processing"
        done = await wait_until_done(client, submitted)
        assert done.state == "completed"
        assert done.id == submitted.id
        assert len(done.outputs) == 1

        video = await client.http.get(done.outputs[0])
        assert video.status_code == 200
        assert video.content[4:8] == b"ftyp"  # an MP4 file

    assert sim.state.count("generate") == 1
    unauthenticated = [r for r in sim.state.requests if r.endpoint in ("models", "schema")]
    assert unauthenticated
    assert not any(r.authorized for r in unauthenticated)


async def test_upload_of_a_real_file_arrives_byte_for_byte(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    data = os.urandom(3 * 256 * 1024 + 999)
    path = tmp_path / "first-frame.png"
    path.write_bytes(data)
    async with client_for(sim) as client:
        with path.open("rb") as file:
            upload = await client.upload(
                file, filename=path.name, content_type="image/png", size=len(data)
            )
        (record,) = sim.state.uploads.values()
        assert record.size == len(data)
        assert record.sha256 == hashlib.sha256(data).hexdigest()
        assert record.filename == "first-frame.png"
        assert record.content_type == "image/png"
        assert upload.size == len(data)
        assert upload.type == "image"
        fetched = await client.http.get(upload.url)
        assert fetched.content == data


async def test_failed_job_answered_as_http_500_is_reported_after_exactly_one_poll(
    sim: SimulatorServer,
) -> None:
    async with client_for(sim) as client:
        submitted = await client.generate(
            "video", MODEL, {"prompt": "a storm [sim:fail500] [sim:seconds=0]"}
        )
        prediction = await client.get_prediction(submitted.id)
    assert prediction.state == "failed"
    assert prediction.error
    assert sim.state.count("prediction", submitted.id) == 1


async def test_ordinary_failed_job_is_data_not_an_exception(sim: SimulatorServer) -> None:
    async with client_for(sim) as client:
        submitted = await client.generate("video", MODEL, {"prompt": "x [sim:fail]"})
        done = await wait_until_done(client, submitted)
    assert done.state == "failed"
    assert done.error


async def test_generate_slower_than_the_read_timeout_is_sent_once_outcome_unknown_and_in_history(
    sim: SimulatorServer,
) -> None:
    sim.state.add_fault(Fault(endpoint="generate", kind="slow", delay=1.5))
    async with client_for(sim, read_timeout=0.3) as client:
        with anyio.fail_after(10), pytest.raises(OutcomeUnknownError):
            await client.generate("video", MODEL, {"prompt": "a slow boat"})
        assert sim.state.count("generate") == 1
        (job_id,) = sim.state.predictions
        rows = await client.history(model=MODEL)
    assert [row.id for row in rows] == [job_id]
    assert rows[0].request_body is not None
    assert rows[0].request_body["prompt"] == "a slow boat"


@pytest.mark.parametrize(
    "fault",
    [
        Fault(endpoint="generate", kind="drop"),
        Fault(endpoint="generate", kind="html_error", status=502),
        Fault(endpoint="generate", kind="json_error", status=503, message="busy"),
    ],
    ids=["drop", "html502", "json503"],
)
async def test_generate_that_may_have_reached_atlas_is_never_resent(
    sim: SimulatorServer, fault: Fault
) -> None:
    sim.state.add_fault(fault)
    async with client_for(sim) as client:
        with pytest.raises(OutcomeUnknownError):
            await client.generate("video", MODEL, {"prompt": "a cat"})
    assert sim.state.count("generate") == 1


async def test_generate_rate_limited_is_not_resent(sim: SimulatorServer) -> None:
    sim.state.add_fault(Fault(endpoint="generate", kind="rate_limit", retry_after="1"))
    async with client_for(sim) as client:
        with pytest.raises(RateLimitError) as info:
            await client.generate("video", MODEL, {"prompt": "a cat"})
    assert info.value.retry_after == 1.0
    assert sim.state.count("generate") == 1
    assert sim.state.predictions == {}


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_generate_against_a_closed_port_is_retried_then_api_connection_error() -> None:
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    settings = settings_for(f"http://127.0.0.1:{closed_port()}", max_retries=2)
    async with AtlasClient(settings, sleep=record) as client:
        with anyio.fail_after(10), pytest.raises(APIConnectionError) as info:
            await client.generate("video", MODEL, {"prompt": "a cat"})
    assert not isinstance(info.value, OutcomeUnknownError)
    assert len(delays) == 2  # three attempts: each was refused before anything was sent


async def test_poll_answered_429_with_retry_after_1_waits_about_a_second_then_succeeds(
    sim: SimulatorServer,
) -> None:
    async with client_for(sim) as client:
        job_id = await finished_job(client)
        sim.state.add_fault(Fault(endpoint="prediction", kind="rate_limit", retry_after="1"))
        started = time.monotonic()
        with anyio.fail_after(10):
            prediction = await client.get_prediction(job_id)
        elapsed = time.monotonic() - started
    assert prediction.state == "completed"
    assert elapsed >= 0.9
    assert sim.state.count("prediction", job_id) == 2


@pytest.mark.parametrize(
    "fault",
    [
        Fault(endpoint="prediction", kind="html_error", status=502),
        Fault(endpoint="prediction", kind="html_error", status=503),
        Fault(endpoint="prediction", kind="drop"),
        Fault(endpoint="prediction", kind="malformed_json"),
        Fault(endpoint="prediction", kind="json_error", status=500, message="hiccup"),
    ],
    ids=["html502", "html503", "drop", "malformed_json", "json500"],
)
async def test_poll_is_retried_after_a_transient_fault(sim: SimulatorServer, fault: Fault) -> None:
    async with client_for(sim) as client:
        job_id = await finished_job(client)
        sim.state.add_fault(fault)
        with anyio.fail_after(10):
            prediction = await client.get_prediction(job_id)
    assert prediction.state == "completed"
    assert sim.state.count("prediction", job_id) == 2


async def test_poll_slower_than_the_read_timeout_is_retried(sim: SimulatorServer) -> None:
    async with client_for(sim, read_timeout=0.3) as client:
        job_id = await finished_job(client)
        sim.state.add_fault(Fault(endpoint="prediction", kind="slow", delay=1.0))
        with anyio.fail_after(10):
            prediction = await client.get_prediction(job_id)
    assert prediction.state == "completed"
    assert sim.state.count("prediction", job_id) == 2


async def test_wrong_key_is_an_authentication_error_with_atlas_message(
    sim: SimulatorServer,
) -> None:
    async with AtlasClient(settings_for(sim.base_url, key="sk-wrong"), policy=FAST) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.generate("video", MODEL, {"prompt": "a cat"})
        assert await client.list_models()  # the catalog needs no key
    assert info.value.status == 401
    assert "key" in info.value.message.lower()
    assert sim.state.count("generate") == 1
    assert sim.state.predictions == {}


async def test_api_key_is_never_logged_over_real_sockets_at_debug(
    sim: SimulatorServer, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    for name in (None, "atlas_mcp_py", "httpx2", "httpcore2"):
        caplog.set_level(logging.DEBUG, logger=name)
    errors: list[AtlasError] = []
    source = tmp_path / "a.png"
    source.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    async with client_for(sim, read_timeout=0.3) as client:
        await client.list_models()
        job_id = await finished_job(client)
        sim.state.add_fault(Fault(endpoint="prediction", kind="html_error", status=502))
        await client.get_prediction(job_id)
        with source.open("rb") as file:
            await client.upload(file, filename="a.png", content_type="image/png", size=108)
        sim.state.add_fault(Fault(endpoint="generate", kind="slow", delay=1.0))
        try:
            await client.generate("video", MODEL, {"prompt": "x"})
        except OutcomeUnknownError as exc:
            errors.append(exc)
    async with AtlasClient(settings_for(sim.base_url, key=KEY + "x"), policy=FAST) as client:
        try:
            await client.get_prediction(job_id)
        except AuthenticationError as exc:
            errors.append(exc)
    assert len(errors) == 2
    assert any(r.name.startswith("httpcore2") for r in caplog.records)
    formatter = logging.Formatter("%(name)s %(message)s")
    for record in caplog.records:
        assert KEY not in formatter.format(record)
        assert KEY not in repr(record.args)
    for error in errors:
        assert KEY not in str(error)
        assert KEY not in repr(error)
