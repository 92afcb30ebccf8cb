"""The outermost ASGI layer: request log, `X-Request-ID`, and scripted faults.

Every HTTP request is classified into an endpoint name, logged on the state, and checked
against the fault queue. A matching fault either answers in place of the app (rate_limit,
html_error, json_error, malformed_json) or wraps the app's normal answer (slow, drop).
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Final

import anyio
from starlette.datastructures import MutableHeaders
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .responses import REQUEST_INDEX_KEY, bearer_matches, error, status_phrase
from .state import Fault, SimulatorState

logger = logging.getLogger(__name__)

MALFORMED_JSON: Final = b'{"code": 200, "data": {'
_PREDICTION_PATH: Final = re.compile(r"^/api/v1/model/prediction/([^/]+)/?$")
_OUTPUT_PATH: Final = re.compile(r"^/files/outputs/([^/]+)/")
_FIXED_PATHS: Final[dict[str, str]] = {
    "/api/v1/models": "models",
    "/api/v1/model/generateVideo": "generate",
    "/api/v1/model/generateImage": "generate",
    "/api/v1/model/generateAudio": "generate",
    "/api/v1/model/uploadMedia": "upload",
    "/api/v1/model/history": "history",
}
_PREFIXES: Final = (
    ("/schemas/", "schema"),
    ("/readmes/", "readme"),
    ("/files/", "file"),
    ("/_sim/", "control"),
)


def classify(path: str) -> tuple[str, str | None]:
    """The endpoint name of a request path and the prediction id it concerns, if any."""
    if path in _FIXED_PATHS:
        return _FIXED_PATHS[path], None
    match = _PREDICTION_PATH.match(path)
    if match:
        return "prediction", match.group(1)
    for prefix, name in _PREFIXES:
        if path.startswith(prefix):
            output = _OUTPUT_PATH.match(path)
            return name, output.group(1) if output else None
    return "other", None


class SimulatorMiddleware:
    """Logs each request, stamps `X-Request-ID` and applies the fault queue."""

    def __init__(self, app: ASGIApp, state: SimulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        endpoint, prediction_id = classify(path)
        authorization = _header(scope, b"authorization")
        authorized = bearer_matches(authorization, self.state.api_key)
        scheme, _, credential = (authorization or "").partition(" ")
        scope[REQUEST_INDEX_KEY] = self.state.record_request(
            scope["method"],
            path,
            endpoint,
            prediction_id,
            authorized,
            credential.strip() if scheme.lower() == "bearer" else None,
        )
        send = _with_request_id(send, uuid.uuid4().hex)
        fault = self.state.take_fault(endpoint, prediction_id)
        if fault is None:
            await self.app(scope, receive, send)
            return
        logger.info("fault %s on %s %s", fault.kind, scope["method"], path)
        if fault.kind == "slow":
            await self.app(scope, receive, _delayed(send, fault.delay))
        elif fault.kind == "drop":
            await _dropped(self.app, scope, receive, send)
        else:
            await self._canned(fault)(scope, receive, send)

    def _canned(self, fault: Fault) -> Response:
        """The response a fault answers with in place of the app."""
        state = self.state
        match fault.kind:
            case "rate_limit":
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
                message = fault.message or "Too many requests: rate limit exceeded"
                return error(state, fault.status or 429, message, headers=headers)
            case "html_error":
                status = fault.status or 502
                title = f"{status} {status_phrase(status)}"
                page = f"<html><body><h1>{title}</h1></body></html>"
                return HTMLResponse(page, status_code=status, headers=_retry_after(fault))
            case "json_error":
                status = fault.status or 500
                return error(state, status, fault.message, headers=_retry_after(fault))
            case _:  # malformed_json
                return Response(
                    MALFORMED_JSON, status_code=fault.status or 200, media_type="application/json"
                )


def _retry_after(fault: Fault) -> dict[str, str] | None:
    return {"Retry-After": fault.retry_after} if fault.retry_after else None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


def _with_request_id(send: Send, request_id: str) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message).append("X-Request-ID", request_id)
        await send(message)

    return wrapped


def _delayed(send: Send, delay: float) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            await anyio.sleep(delay)
        await send(message)

    return wrapped


async def _dropped(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run the app, then send its headers promising more body than follows, and hang up.

    Returning from the ASGI callable with the response incomplete makes uvicorn (h11 and
    httptools alike) close the connection, so the client sees a truncated body.
    """
    start: Message | None = None
    body = bytearray()

    async def capture(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(scope, receive, capture)
    if start is None:
        return
    promised = len(body) + max(len(body), 64)
    headers = MutableHeaders(scope=start)
    headers["content-length"] = str(promised)
    await send(start)
    await send(
        {"type": "http.response.body", "body": bytes(body[: len(body) // 2]), "more_body": True}
    )
