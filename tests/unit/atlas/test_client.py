"""AtlasClient against fake servers (httpx2.MockTransport handlers): retries, error
mapping, secret redaction, catalog and schema, streamed uploads.

Backoff is recorded through an injected `sleep` that advances an injected clock:
nothing here sleeps for real, except one test that needs the event loop's deadline.
"""

from __future__ import annotations

import inspect
import io
import json
import logging
import os
import traceback
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from atlas_mcp_py.atlas.client import UPLOAD_CHUNK_BYTES, AtlasClient
from atlas_mcp_py.atlas.retry import RetryPolicy, parse_retry_after
from atlas_mcp_py.config import Settings
from atlas_mcp_py.errors import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AtlasError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    InsufficientBalanceError,
    ModelUnavailableError,
    NotFoundError,
    OutcomeUnknownError,
    PayloadTooLargeError,
    RateLimitError,
    ServerError,
    UploadSourceError,
    WrongBaseURLError,
)

pytestmark = pytest.mark.anyio

KEY = "sk-atlas-UNITKEY-4f8c2b9e7d1a"
BASE = "https://atlas.test"
SCHEMA_URL = "https://schemas.other-host.test/hailuo-02-fast.json"

Reply = httpx2.Response | Awaitable[httpx2.Response]
Step = Callable[[httpx2.Request], Reply]


# -- fake server building blocks ------------------------------------------------------------


def ok(data: Any, **headers: str) -> Step:
    return lambda request: httpx2.Response(
        200, json={"code": 200, "message": "success", "data": data}, headers=headers
    )


def error(status: int, message: str, **headers: str) -> Step:
    return lambda request: httpx2.Response(
        status, json={"code": status, "message": message, "data": None}, headers=headers
    )


def html(status: int) -> Step:
    page = f"<html><head><title>{status}</title></head><body><h1>{status}</h1></body></html>"
    return lambda request: httpx2.Response(status, text=page, headers={"content-type": "text/html"})


def not_json(status: int = 200) -> Step:
    return lambda request: httpx2.Response(
        status,
        content=b'{"code": 200, "data": {"id": ',
        headers={"content-type": "application/json"},
    )


def refused(request: httpx2.Request) -> httpx2.Response:
    raise httpx2.ConnectError("[Errno 111] Connection refused", request=request)


def read_timeout(request: httpx2.Request) -> httpx2.Response:
    raise httpx2.ReadTimeout("timed out", request=request)


def dropped(request: httpx2.Request) -> httpx2.Response:
    raise httpx2.RemoteProtocolError(
        "Server disconnected without sending a response.", request=request
    )


async def hangs(request: httpx2.Request) -> httpx2.Response:
    await anyio.sleep_forever()
    raise AssertionError("unreachable")


PREDICTION = {"id": "pred-1", "model": "minimax/hailuo-02/fast", "status": "processing"}
DONE = {**PREDICTION, "status": "completed", "outputs": [{"url": "https://cdn.test/v.mp4"}]}

CATALOG = [
    {
        "model": "minimax/hailuo-02/fast",
        "type": "Video",
        "displayName": "Hailuo 02 Fast",
        "price": {"actual": {"base_price": "0.1", "unit": "generation"}},
        "schema": SCHEMA_URL,
        "display_console": True,
    },
    {"model": "hidden/model", "type": "Video", "display_console": False},
    {"model": "image/model", "type": "Image", "schema": "/api/v1/schema/image-model"},
]

INPUT_SCHEMA = {
    "type": "object",
    "required": ["prompt"],
    "properties": {
        "model": {"type": "string"},
        "prompt": {"type": "string", "maxLength": 2000},
        "duration": {"type": "integer", "enum": [6, 10], "default": 6},
    },
    "x-order-properties": ["prompt", "duration"],
}
OPENAPI = {"openapi": "3.0.0", "components": {"schemas": {"Input": INPUT_SCHEMA}}}


class FakeAtlas:
    """A scripted fake server plus a fake clock; each request takes the next step.

    The last step repeats forever. `delays` records every backoff the client slept.
    """

    def __init__(self, *steps: Step, key: str | None = KEY, **settings: Any) -> None:
        assert steps, "script at least one step"
        self.steps = list(steps)
        self.requests: list[httpx2.Request] = []
        self.bodies: list[bytes] = []
        self.delays: list[float] = []
        self.now = 1000.0
        env = {"ATLASCLOUD_BASE_URL": BASE}
        if key is not None:
            env["ATLASCLOUD_API_KEY"] = key
        self.settings = Settings.from_env(env, **settings)

    async def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        self.bodies.append(request.content)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        reply = step(request)
        return await reply if inspect.isawaitable(reply) else reply

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds

    def client(
        self, *, rand: Callable[[], float] = lambda: 0.0, policy: RetryPolicy | None = None
    ) -> AtlasClient:
        return AtlasClient(
            self.settings,
            transport=httpx2.MockTransport(self.handle),
            policy=policy,
            sleep=self.sleep,
            rand=rand,
            clock=lambda: self.now,
        )


# -- parsing through the client ---------------------------------------------------------------


async def test_get_prediction_reads_the_data_envelope_and_sends_the_bearer_key() -> None:
    fake = FakeAtlas(ok(DONE))
    async with fake.client() as client:
        prediction = await client.get_prediction("pred-1")
    assert prediction.state == "completed"
    assert prediction.outputs == ["https://cdn.test/v.mp4"]
    (request,) = fake.requests
    assert request.method == "GET"
    assert str(request.url) == f"{BASE}/api/v1/model/prediction/pred-1"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["accept"] == "application/json"  # as Atlas's own clients send


async def test_get_prediction_reads_a_body_without_envelope_and_with_msg() -> None:
    fake = FakeAtlas(lambda r: httpx2.Response(200, json={"msg": "ok", **DONE}))
    async with fake.client() as client:
        prediction = await client.get_prediction("pred-1")
    assert prediction.id == "pred-1"
    assert prediction.state == "completed"


async def test_prediction_id_is_quoted_so_it_cannot_reach_another_endpoint() -> None:
    fake = FakeAtlas(ok(DONE))
    async with fake.client() as client:
        await client.get_prediction("../../models?page=1")
        await client.get_prediction("..")
    assert fake.requests[0].url.raw_path == b"/api/v1/model/prediction/..%2F..%2Fmodels%3Fpage%3D1"
    assert fake.requests[1].url.raw_path == b"/api/v1/model/prediction/%2E%2E"


async def test_generate_posts_the_model_and_flat_params_with_the_key() -> None:
    fake = FakeAtlas(ok({"id": "pred-1", "status": "created"}))
    async with fake.client() as client:
        prediction = await client.generate(
            "video", "minimax/hailuo-02/fast", {"prompt": "a cat", "duration": 6}
        )
    assert prediction.id == "pred-1"
    assert prediction.state == "processing"
    (request,) = fake.requests
    assert request.method == "POST"
    assert request.url.path == "/api/v1/model/generateVideo"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {
        "model": "minimax/hailuo-02/fast",
        "prompt": "a cat",
        "duration": 6,
    }


async def test_generate_image_and_audio_use_their_own_endpoints() -> None:
    fake = FakeAtlas(ok({"id": "p", "status": "created"}))
    async with fake.client() as client:
        await client.generate("image", "m", {})
        await client.generate("audio", "m", {})
    assert [r.url.path for r in fake.requests] == [
        "/api/v1/model/generateImage",
        "/api/v1/model/generateAudio",
    ]


async def test_history_sends_page_filters_and_parses_rows() -> None:
    row = {"ID": "pred-3", "createdAt": 1, "status": "failed", "requestBody": '{"prompt": "x"}'}
    fake = FakeAtlas(ok({"items": [row], "pageNo": 2, "pageSize": 5, "total": 6}))
    async with fake.client() as client:
        rows = await client.history(model="minimax/hailuo-02/fast", status="failed", page=2, size=5)
    assert [r.id for r in rows] == ["pred-3"]
    assert rows[0].request_body == {"prompt": "x"}
    params = fake.requests[0].url.params
    assert dict(params) == {
        "no": "2",
        "size": "5",
        "model": "minimax/hailuo-02/fast",
        "status": "failed",
    }


async def test_generate_answer_without_an_id_is_an_unknown_outcome() -> None:
    fake = FakeAtlas(ok({"status": "created"}))
    async with fake.client() as client:
        with pytest.raises(OutcomeUnknownError, match="no prediction id"):
            await client.generate("video", "m", {"prompt": "x"})
    assert len(fake.requests) == 1


# -- error mapping ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, BadRequestError),
        (422, BadRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (402, InsufficientBalanceError),
        (404, NotFoundError),
        (413, PayloadTooLargeError),
    ],
)
async def test_client_error_status_maps_to_its_exception_with_atlas_message_and_no_retry(
    status: int, expected: type[APIStatusError]
) -> None:
    fake = FakeAtlas(error(status, f"atlas says {status}", **{"X-Request-ID": "req-42"}))
    async with fake.client() as client:
        with pytest.raises(expected) as info:
            await client.get_prediction("pred-1")
    assert type(info.value) is expected
    assert info.value.status == status
    assert info.value.message == f"atlas says {status}"
    assert f"atlas says {status}" in str(info.value)
    assert info.value.request_id == "req-42"
    assert len(fake.requests) == 1
    assert fake.delays == []


async def test_message_falls_back_from_message_to_msg_to_error() -> None:
    fake = FakeAtlas(
        lambda r: httpx2.Response(400, json={"code": 400, "msg": "duration must be 6 or 10"}),
        lambda r: httpx2.Response(403, json={"error": "model not enabled"}),
    )
    async with fake.client() as client:
        with pytest.raises(BadRequestError, match="duration must be 6 or 10"):
            await client.get_prediction("p")
        with pytest.raises(AuthenticationError, match="model not enabled"):
            await client.get_prediction("p")


async def test_rate_limit_maps_to_rate_limit_error_with_retry_after() -> None:
    fake = FakeAtlas(error(429, "slow down", **{"Retry-After": "7"}), max_retries=0)
    async with fake.client() as client:
        with pytest.raises(RateLimitError, match="slow down") as info:
            await client.get_prediction("p")
    assert info.value.status == 429
    assert info.value.retry_after == 7.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_fault_maps_to_server_error(status: int) -> None:
    fake = FakeAtlas(error(status, "upstream exploded"), max_retries=0)
    async with fake.client() as client:
        with pytest.raises(ServerError, match="upstream exploded") as info:
            await client.get_prediction("p")
    assert info.value.status == status


async def test_html_error_page_maps_by_status_with_a_readable_message() -> None:
    fake = FakeAtlas(html(400))
    async with fake.client() as client:
        with pytest.raises(BadRequestError) as info:
            await client.get_prediction("p")
    assert "HTML error page" in info.value.message
    assert "<html>" not in str(info.value)


async def test_error_code_inside_an_http_200_body_is_an_error() -> None:
    fake = FakeAtlas(lambda r: httpx2.Response(200, json={"code": 401, "message": "bad key"}))
    async with fake.client() as client:
        with pytest.raises(AuthenticationError, match="bad key"):
            await client.get_prediction("p")


# -- retry decisions --------------------------------------------------------------------------


async def test_failed_prediction_answered_as_http_500_is_returned_after_one_request() -> None:
    body = {
        "code": 500,
        "message": "Generation failed: content moderation",
        "data": {"status": "failed", "error": "content moderation"},
    }
    fake = FakeAtlas(lambda r: httpx2.Response(500, json=body))
    async with fake.client() as client:
        prediction = await client.get_prediction("pred-5")
    assert prediction.id == "pred-5"
    assert prediction.state == "failed"
    assert prediction.error == "content moderation"
    assert len(fake.requests) == 1
    assert fake.delays == []


async def test_get_retries_429_sleeping_exactly_the_retry_after_header() -> None:
    fake = FakeAtlas(error(429, "slow down", **{"Retry-After": "2"}), ok(DONE))
    async with fake.client() as client:
        prediction = await client.get_prediction("pred-1")
    assert prediction.state == "completed"
    assert len(fake.requests) == 2
    assert fake.delays == [2.0]


async def test_retry_after_is_capped() -> None:
    fake = FakeAtlas(error(429, "slow down", **{"Retry-After": "3600"}), ok(DONE))
    policy = RetryPolicy(max_retries=3, retry_after_cap=5.0)
    async with fake.client(policy=policy) as client:
        await client.get_prediction("pred-1")
    assert fake.delays == [5.0]


async def test_429_without_retry_after_backs_off_exponentially() -> None:
    fake = FakeAtlas(error(429, "a"), error(429, "b"), ok(DONE))
    async with fake.client() as client:
        await client.get_prediction("pred-1")
    assert fake.delays == [0.5, 1.0]


@pytest.mark.parametrize(
    "fault",
    [html(502), html(503), html(504), error(500, "oops"), refused, read_timeout, dropped],
    ids=["html502", "html503", "html504", "json500", "refused", "read_timeout", "dropped"],
)
async def test_get_is_retried_after_a_transient_fault_and_then_succeeds(fault: Step) -> None:
    fake = FakeAtlas(fault, ok(DONE))
    async with fake.client() as client:
        prediction = await client.get_prediction("pred-1")
    assert prediction.state == "completed"
    assert len(fake.requests) == 2
    assert len(fake.delays) == 1


async def test_get_is_retried_when_a_2xx_body_is_malformed_json() -> None:
    fake = FakeAtlas(not_json(), ok(DONE))
    async with fake.client() as client:
        prediction = await client.get_prediction("pred-1")
    assert prediction.state == "completed"
    assert len(fake.requests) == 2


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (html(502), ServerError),
        (error(429, "slow down"), RateLimitError),
        (refused, APIConnectionError),
        (read_timeout, APITimeoutError),
        (dropped, APITimeoutError),
        (not_json(), APIResponseError),
    ],
    ids=["html502", "429", "refused", "read_timeout", "dropped", "malformed_json"],
)
async def test_get_gives_up_after_max_retries_with_the_matching_error(
    fault: Step, expected: type[AtlasError]
) -> None:
    fake = FakeAtlas(fault, max_retries=2)
    async with fake.client() as client:
        with pytest.raises(expected):
            await client.get_prediction("pred-1")
    assert len(fake.requests) == 3
    assert len(fake.delays) == 2


async def test_zero_max_retries_sends_once() -> None:
    fake = FakeAtlas(html(503), max_retries=0)
    async with fake.client() as client:
        with pytest.raises(ServerError):
            await client.get_prediction("pred-1")
    assert len(fake.requests) == 1
    assert fake.delays == []


async def test_generate_read_timeout_is_sent_exactly_once_and_outcome_unknown() -> None:
    fake = FakeAtlas(read_timeout)
    async with fake.client() as client:
        with pytest.raises(OutcomeUnknownError):
            await client.generate("video", "m", {"prompt": "x"})
    assert len(fake.requests) == 1
    assert fake.delays == []


async def test_generate_connection_refused_is_retried_and_succeeds() -> None:
    fake = FakeAtlas(refused, refused, ok({"id": "pred-1", "status": "created"}))
    async with fake.client() as client:
        prediction = await client.generate("video", "m", {"prompt": "x"})
    assert prediction.id == "pred-1"
    assert len(fake.requests) == 3
    assert fake.delays == [0.5, 1.0]


async def test_generate_connection_refused_every_time_raises_api_connection_error() -> None:
    fake = FakeAtlas(refused, max_retries=2)
    async with fake.client() as client:
        with pytest.raises(APIConnectionError) as info:
            await client.generate("video", "m", {"prompt": "x"})
    assert not isinstance(info.value, OutcomeUnknownError)
    assert len(fake.requests) == 3


@pytest.mark.parametrize(
    "fault",
    [html(502), html(503), error(500, "internal"), dropped, not_json()],
    ids=["html502", "html503", "json500", "dropped", "2xx_not_json"],
)
async def test_generate_that_may_have_reached_atlas_is_sent_once_and_outcome_unknown(
    fault: Step,
) -> None:
    fake = FakeAtlas(fault, ok({"id": "should-not-be-reached", "status": "created"}))
    async with fake.client() as client:
        with pytest.raises(OutcomeUnknownError):
            await client.generate("video", "m", {"prompt": "x"})
    assert len(fake.requests) == 1
    assert fake.delays == []


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (402, InsufficientBalanceError),
        (422, BadRequestError),
        (429, RateLimitError),
    ],
)
async def test_generate_4xx_is_not_retried(status: int, expected: type[APIStatusError]) -> None:
    fake = FakeAtlas(error(status, "no", **{"Retry-After": "1"}), ok({"id": "p"}))
    async with fake.client() as client:
        with pytest.raises(expected):
            await client.generate("video", "m", {"prompt": "x"})
    assert len(fake.requests) == 1


async def test_overall_deadline_stops_retries_before_max_retries() -> None:
    fake = FakeAtlas(html(503), max_retries=10, request_deadline=3.0)
    async with fake.client() as client:
        with pytest.raises(ServerError):
            await client.get_prediction("pred-1")
    # 0.5 + 1.0 slept; the next 2.0 would end at 3.5 > 3.0, so the client stops.
    assert fake.delays == [0.5, 1.0]
    assert len(fake.requests) == 3


async def test_overall_deadline_cuts_a_hanging_get_short() -> None:
    fake = FakeAtlas(hangs, request_deadline=0.05)
    async with fake.client() as client:
        with anyio.fail_after(5), pytest.raises(APITimeoutError, match="deadline"):
            await client.get_prediction("pred-1")
    assert len(fake.requests) == 1


async def test_overall_deadline_on_a_hanging_generate_is_outcome_unknown() -> None:
    fake = FakeAtlas(hangs, request_deadline=0.05)
    async with fake.client() as client:
        with anyio.fail_after(5), pytest.raises(OutcomeUnknownError):
            await client.generate("video", "m", {"prompt": "x"})
    assert len(fake.requests) == 1


async def test_backoff_is_exponential_capped_and_jittered_by_rand() -> None:
    rands = iter([0.0, 1.0, 0.5, 0.0, 0.0, 1.0])
    policy = RetryPolicy(max_retries=6, backoff_base=0.5, backoff_cap=4.0)
    fake = FakeAtlas(html(503), request_deadline=1000)
    async with fake.client(policy=policy, rand=lambda: next(rands)) as client:
        with pytest.raises(ServerError):
            await client.get_prediction("pred-1")
    # base * 2**n capped at 4, times (1 - 0.25 * rand)
    assert fake.delays == pytest.approx([0.5, 0.75, 1.75, 4.0, 4.0, 3.0])


def test_retry_policy_backoff_never_exceeds_the_cap_and_jitter_only_shortens() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=8.0)
    for attempt in range(12):
        full = min(8.0, 0.5 * 2**attempt)
        assert policy.backoff(attempt, 0.0) == full
        assert 0.75 * full <= policy.backoff(attempt, 0.999) < full


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("1", 1.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        ("-3", None),
        ("soon", None),
        ("nan", None),
        (None, None),
        ("Thu, 01 Jan 2026 00:00:10 GMT", 10.0),
    ],
)
def test_parse_retry_after_reads_seconds_and_http_dates(
    header: str | None, expected: float | None
) -> None:
    now = 1767225600.0  # 2026-01-01T00:00:00Z
    assert parse_retry_after(header, now=now) == expected


# -- secrets ------------------------------------------------------------------------------

LOGGERS = ["", "atlas_mcp_py", "atlas_mcp_py.atlas.client", "httpx2", "httpcore2"]


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
    return caplog


def assert_secret_absent(records: list[logging.LogRecord], errors: list[BaseException]) -> None:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in records:
        assert KEY not in formatter.format(record)  # message, args, exc_text, stack
        assert KEY not in repr(record.args)
        assert KEY not in str(record.msg)
        assert KEY not in (record.exc_text or "")
    for exc in errors:
        assert KEY not in str(exc)
        assert KEY not in repr(exc)
        assert KEY not in "".join(traceback.format_exception(exc))


async def test_api_key_never_appears_in_logs_or_exceptions_even_at_debug(
    debug_logs: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    log = logging.getLogger("atlas_mcp_py.test")
    errors: list[BaseException] = []
    echo = f"Invalid API key {KEY}"  # a server that echoes the key back
    fake = FakeAtlas(
        ok(CATALOG),  # list_models
        ok(DONE),  # get_prediction
        ok({"id": "pred-2", "status": "created"}),  # generate
        error(401, echo),  # get_prediction: 401 echoing the key
        html(500),  # get_prediction: 500, retried ...
        html(500),
        error(500, echo),  # ... until it gives up
        read_timeout,  # generate: timeout after sending
        read_timeout,  # get_prediction: timeouts until it gives up
        read_timeout,
        read_timeout,
        error(402, echo),  # generate
        ok({"download_url": "https://files.test/a.png", "size": 3}),  # upload
        max_retries=2,
    )
    source = tmp_path / "a.png"
    source.write_bytes(b"png")
    async with fake.client() as client:
        await client.list_models()
        await client.get_prediction("pred-1")
        await client.generate("video", "m", {"prompt": "x"})
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: client.get_prediction("pred-1"),
            lambda: client.get_prediction("pred-1"),
            lambda: client.generate("video", "m", {"prompt": "x"}),
            lambda: client.get_prediction("pred-1"),
            lambda: client.generate("video", "m", {"prompt": "x"}),
        ]
        for call in calls:
            try:
                await call()
            except AtlasError as exc:
                errors.append(exc)
                log.exception("call failed")  # what a careless caller would do
        with source.open("rb") as file:
            await client.upload(file, filename="a.png", content_type="image/png", size=3)
    async with FakeAtlas(ok(DONE), key=None).client() as keyless:
        with pytest.raises(ConfigError) as info:
            await keyless.get_prediction("pred-1")
        errors.append(info.value)

    assert [type(e) for e in errors] == [
        AuthenticationError,
        ServerError,
        OutcomeUnknownError,
        APITimeoutError,
        InsufficientBalanceError,
        ConfigError,
    ]
    assert "[redacted]" in str(errors[0])
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in fake.requests[1:])
    assert any(r.name == "atlas_mcp_py.atlas.client" for r in debug_logs.records)
    assert any(r.exc_info for r in debug_logs.records)
    assert_secret_absent(debug_logs.records, errors)


async def test_config_error_for_settings_never_echoes_the_key(
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"ATLASCLOUD_API_KEY": KEY, "ATLAS_MCP_MAX_WAIT": KEY})
    logging.getLogger("atlas_mcp_py").error("bad config", exc_info=info.value)
    assert_secret_absent(debug_logs.records, [info.value])


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_prediction("pred-1"),
        lambda c: c.generate("video", "m", {"prompt": "x"}),
        lambda c: c.history(),
        lambda c: c.upload(io.BytesIO(b"abc"), filename="a.png", content_type="image/png", size=3),
    ],
    ids=["get_prediction", "generate", "history", "upload"],
)
async def test_missing_key_raises_config_error_before_any_request(
    call: Callable[[AtlasClient], Awaitable[object]],
) -> None:
    fake = FakeAtlas(ok(DONE), key=None)
    async with fake.client() as client:
        with pytest.raises(ConfigError, match="ATLASCLOUD_API_KEY"):
            await call(client)
    assert fake.requests == []


# -- catalog and schema -----------------------------------------------------------------------


async def test_catalog_needs_no_key_and_lists_visible_models_only() -> None:
    fake = FakeAtlas(ok(CATALOG), key=None)
    async with fake.client() as client:
        visible = await client.list_models()
        everything = await client.list_models(include_hidden=True)
        hidden = await client.get_model("hidden/model")
    assert [m.id for m in visible] == ["minimax/hailuo-02/fast", "image/model"]
    assert len(everything) == 3
    assert hidden is not None
    assert hidden.hidden
    assert "authorization" not in fake.requests[0].headers


async def test_catalog_call_does_not_send_the_key_even_when_one_is_set() -> None:
    fake = FakeAtlas(ok(CATALOG))
    async with fake.client() as client:
        await client.list_models()
    assert "authorization" not in fake.requests[0].headers


async def test_catalog_is_cached_within_the_ttl_and_refetched_after_it() -> None:
    fake = FakeAtlas(ok(CATALOG), catalog_ttl_seconds=300)
    async with fake.client() as client:
        await client.list_models()
        await client.list_models(include_hidden=True)
        await client.get_model("minimax/hailuo-02/fast")
        assert len(fake.requests) == 1
        fake.now += 301
        await client.list_models()
        assert len(fake.requests) == 2
        await client.list_models(refresh=True)
        assert len(fake.requests) == 3


async def test_input_schema_is_fetched_from_another_host_without_the_key() -> None:
    fake = FakeAtlas(ok(CATALOG), lambda r: httpx2.Response(200, json=OPENAPI))
    async with fake.client() as client:
        schema = await client.get_input_schema("minimax/hailuo-02/fast")
        again = await client.get_input_schema("minimax/hailuo-02/fast")
    assert schema is not None and schema.schema == INPUT_SCHEMA
    assert again is schema
    catalog_request, schema_request = fake.requests  # the schema is cached too
    assert str(schema_request.url) == SCHEMA_URL
    assert "authorization" not in schema_request.headers
    assert "authorization" not in catalog_request.headers


async def test_input_schema_at_a_relative_url_is_fetched_from_the_base_without_the_key() -> None:
    fake = FakeAtlas(ok(CATALOG), lambda r: httpx2.Response(200, json=OPENAPI))
    async with fake.client() as client:
        schema = await client.get_input_schema("image/model")
    assert schema is not None and schema.schema == INPUT_SCHEMA
    assert str(fake.requests[1].url) == f"{BASE}/api/v1/schema/image-model"
    assert "authorization" not in fake.requests[1].headers


async def test_input_schema_of_an_unknown_model_or_one_without_schema_is_none() -> None:
    fake = FakeAtlas(ok(CATALOG))
    async with fake.client() as client:
        assert await client.get_input_schema("no/such-model") is None
        assert await client.get_input_schema("hidden/model") is None
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    "document",
    [{"components": {"schemas": {}}}, {"components": []}, ["not", "a", "schema"]],
    ids=["no_input", "components_not_object", "list"],
)
async def test_input_schema_document_without_an_input_object_is_unreadable(document: Any) -> None:
    fake = FakeAtlas(ok(CATALOG), lambda r: httpx2.Response(200, json=document))
    async with fake.client() as client:
        with pytest.raises(APIResponseError, match="Input"):
            await client.get_input_schema("minimax/hailuo-02/fast")


async def test_http_property_carries_no_authorization_header() -> None:
    async with FakeAtlas(ok(DONE)).client() as client:
        assert "authorization" not in client.http.headers


# -- upload ------------------------------------------------------------------------------------


class CountingFile(io.FileIO):
    """A real file that remembers how much each read asked for."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "rb")
        self.reads: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        self.reads.append(-1 if size is None else size)
        return super().read(size)


def parse_multipart(request: httpx2.Request) -> tuple[str, str, bytes]:
    """(filename, content type, bytes) of the single part named `file`."""
    content_type = request.headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    boundary = content_type.split("boundary=", 1)[1].encode()
    body = request.content
    opening = b"--" + boundary + b"\r\n"
    closing = b"\r\n--" + boundary + b"--\r\n"
    assert body.startswith(opening)
    assert body.endswith(closing)
    head, payload = body[len(opening) : -len(closing)].split(b"\r\n\r\n", 1)
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
    disposition = headers["Content-Disposition"]
    assert disposition.startswith('form-data; name="file"; filename="')
    filename = disposition.split('filename="', 1)[1].rstrip('"')
    return filename, headers["Content-Type"], payload


def media(tmp_path: Path, size: int, name: str = "clip.mp4") -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


UPLOADED = {"download_url": "https://files.test/clip.mp4", "filename": "clip.mp4", "size": 1}


async def test_upload_streams_a_correct_multipart_body_in_chunks(tmp_path: Path) -> None:
    size = 2 * UPLOAD_CHUNK_BYTES + 1234
    path, data = media(tmp_path, size)
    fake = FakeAtlas(ok({**UPLOADED, "size": size}))
    progress: list[tuple[int, int]] = []

    async def on_progress(sent: int, total: int) -> None:
        progress.append((sent, total))

    async with fake.client() as client:
        with CountingFile(path) as file:
            upload = await client.upload(
                file,
                filename="clip.mp4",
                content_type="video/mp4",
                size=size,
                on_progress=on_progress,
            )
            reads = file.reads
    assert upload.url == "https://files.test/clip.mp4"
    assert upload.size == size
    (request,) = fake.requests
    assert request.method == "POST"
    assert request.url.path == "/api/v1/model/uploadMedia"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert int(request.headers["content-length"]) == len(request.content)
    assert "transfer-encoding" not in request.headers
    assert parse_multipart(request) == ("clip.mp4", "video/mp4", data)
    assert max(reads) <= UPLOAD_CHUNK_BYTES
    assert progress == [
        (UPLOAD_CHUNK_BYTES, size),
        (2 * UPLOAD_CHUNK_BYTES, size),
        (size, size),
    ]


async def test_upload_filename_cannot_inject_multipart_headers(tmp_path: Path) -> None:
    path, data = media(tmp_path, 10)
    fake = FakeAtlas(ok(UPLOADED))
    async with fake.client() as client:
        with path.open("rb") as file:
            await client.upload(
                file,
                filename='evil".png\r\nContent-Type: text/html',
                content_type="image/png",
                size=10,
            )
    filename, content_type, payload = parse_multipart(fake.requests[0])
    assert "\r" not in filename
    assert '"' not in filename
    assert content_type == "image/png"
    assert payload == data


async def test_upload_after_connection_refused_is_retried_from_the_start_of_the_file(
    tmp_path: Path,
) -> None:
    size = UPLOAD_CHUNK_BYTES + 17
    path, data = media(tmp_path, size)
    fake = FakeAtlas(refused, ok(UPLOADED))
    async with fake.client() as client:
        with path.open("rb") as file:
            await client.upload(file, filename="clip.mp4", content_type="video/mp4", size=size)
    assert len(fake.requests) == 2
    for request in fake.requests:
        assert parse_multipart(request) == ("clip.mp4", "video/mp4", data)


async def test_upload_read_timeout_is_sent_once_and_outcome_unknown(tmp_path: Path) -> None:
    path, _ = media(tmp_path, 100)
    fake = FakeAtlas(read_timeout, ok(UPLOADED))
    async with fake.client() as client:
        with path.open("rb") as file, pytest.raises(OutcomeUnknownError):
            await client.upload(file, filename="clip.mp4", content_type="video/mp4", size=100)
    assert len(fake.requests) == 1


async def test_upload_over_the_limit_is_payload_too_large_and_not_retried(tmp_path: Path) -> None:
    path, _ = media(tmp_path, 100)
    fake = FakeAtlas(error(413, "file exceeds 50 MB"))
    async with fake.client() as client:
        with path.open("rb") as file, pytest.raises(PayloadTooLargeError, match="50 MB"):
            await client.upload(file, filename="clip.mp4", content_type="video/mp4", size=100)
    assert len(fake.requests) == 1


async def test_upload_of_a_file_that_shrinks_mid_upload_fails_clearly(tmp_path: Path) -> None:
    size = 3 * UPLOAD_CHUNK_BYTES
    path, _ = media(tmp_path, size)
    fake = FakeAtlas(ok(UPLOADED))

    async def truncate_after_first_chunk(sent: int, total: int) -> None:
        if sent == UPLOAD_CHUNK_BYTES:
            os.truncate(path, 1000)

    async with fake.client() as client:
        with path.open("rb") as file, pytest.raises(UploadSourceError, match="shrank"):
            await client.upload(
                file,
                filename="clip.mp4",
                content_type="video/mp4",
                size=size,
                on_progress=truncate_after_first_chunk,
            )
    assert fake.requests == []  # the fake server never got a complete request


async def test_upload_of_a_file_that_grew_fails_clearly(tmp_path: Path) -> None:
    path, _ = media(tmp_path, 100)
    fake = FakeAtlas(ok(UPLOADED))
    async with fake.client() as client:
        with path.open("rb") as file, pytest.raises(UploadSourceError, match="grew"):
            await client.upload(file, filename="clip.mp4", content_type="video/mp4", size=50)


def iter_public_surface() -> Iterator[str]:
    yield from ("list_models", "get_model", "get_input_schema", "generate", "get_prediction")
    yield from ("history", "upload", "http", "aclose")


def test_client_public_surface_is_stable() -> None:
    for name in iter_public_surface():
        assert hasattr(AtlasClient, name), name


# -- what Atlas support needs, the balance --------------------------------------------------


async def test_generate_keeps_the_answer_s_request_id_and_expiry_hours() -> None:
    fake = FakeAtlas(
        ok(
            {"id": "p", "status": "created"},
            **{"X-Request-ID": "req-9", "X-AtlasCloud-Object-Expiration-Hours": "24"},
        )
    )
    async with fake.client() as client:
        prediction = await client.generate("video", "m", {"prompt": "x"})
    assert (prediction.request_id, prediction.expire_hours) == ("req-9", 24.0)


async def test_an_error_body_s_request_id_is_kept_and_shown() -> None:
    body = {"code": 400, "msg": "bad duration", "request_id": "rid-7", "data": None}
    fake = FakeAtlas(lambda r: httpx2.Response(400, json=body))
    async with fake.client() as client:
        with pytest.raises(BadRequestError) as info:
            await client.get_prediction("p")
    assert info.value.request_id == "rid-7"
    assert "rid-7" in str(info.value)


async def test_a_404_on_generate_means_the_model_is_not_available_to_the_account() -> None:
    fake = FakeAtlas(error(404, "model not found", **{"X-Request-ID": "r4"}))
    async with fake.client() as client:
        with pytest.raises(ModelUnavailableError) as info:
            await client.generate("video", "some/model", {"prompt": "x"})
        with pytest.raises(NotFoundError) as plain:
            await client.get_prediction("p")
    assert info.value.request_id == "r4"
    assert type(plain.value) is NotFoundError


async def test_a_401_under_a_base_url_with_a_path_is_a_wrong_base_url() -> None:
    fake = FakeAtlas(error(401, "unauthorized"), base_url=f"{BASE}/api/v1")
    async with fake.client() as client:
        with pytest.raises(WrongBaseURLError):
            await client.get_prediction("p")


async def test_a_401_on_the_catalog_which_needs_no_key_is_a_wrong_base_url() -> None:
    fake = FakeAtlas(error(401, "unauthorized"), ok(DONE))
    async with fake.client() as client:
        with pytest.raises(WrongBaseURLError):
            await client.list_models()


async def test_a_401_on_an_authenticated_call_at_the_api_root_is_the_key() -> None:
    fake = FakeAtlas(error(401, "invalid key"))
    async with fake.client() as client:
        with pytest.raises(AuthenticationError) as info:
            await client.get_prediction("p")
    assert not isinstance(info.value, WrongBaseURLError)


async def test_balance_is_read_unwrapped_with_the_key() -> None:
    answer = {
        "account": {"id": "a"},
        "available": {"value": "125.500000", "currency": "usd"},
        "cash": {"value": "100"},
    }
    fake = FakeAtlas(lambda r: httpx2.Response(200, json=answer))
    async with fake.client() as client:
        balance = await client.balance()
    assert balance.available == pytest.approx(125.5)
    assert balance.text() == "$125.50"
    (request,) = fake.requests
    assert str(request.url) == f"{BASE}/public/v1/balance"
    assert request.headers["authorization"] == f"Bearer {KEY}"


async def test_a_public_api_error_shape_is_read() -> None:
    body = {"error": {"type": "auth", "code": "invalid_key", "message": "bad key", "param": None}}
    fake = FakeAtlas(lambda r: httpx2.Response(403, json=body))
    async with fake.client() as client:
        with pytest.raises(AuthenticationError, match="bad key"):
            await client.balance()
