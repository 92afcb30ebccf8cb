"""The outermost ASGI layer: hosts, request log, `X-Request-ID`, and scripted faults.

The simulator listens on two ports: the API (api.atlascloud.ai's role) and the static host
that serves schema documents and readmes (static.atlascloud.ai's role). Every HTTP request is
tagged with the host it arrived on, classified into an endpoint name, given a request id (the
`X-Request-ID` header of its answer, and `request_id` in error bodies), logged on the state,
and checked against the fault queue. A matching fault either answers in place of the app
(rate_limit, html_error, json_error, malformed_json, redirect) or wraps the app's normal
answer (slow, drop). A path of one host asked of the other is answered as the real hosts
do: the API's gateway says 401 to any path it does not know, the static host 404.
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

from .responses import (
    HOST_KEY,
    REQUEST_ID,
    REQUEST_INDEX_KEY,
    STATIC_ROOT_KEY,
    bearer_matches,
    error,
    status_phrase,
    unauthorized,
)
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
    "/public/v1/balance": "balance",
}
_PREFIXES: Final = (
    ("/model/schema/", "schema"),
    ("/model/readme/", "readme"),
    ("/files/", "file"),
    ("/_sim/", "control"),
)
STATIC_ENDPOINTS: Final = frozenset({"schema", "readme"})


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
        request_id = uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        try:
            await self._handle(scope, receive, send, request_id)
        finally:
            REQUEST_ID.reset(token)

    def _host(self, scope: Scope) -> str:
        server = scope.get("server")
        port = self.state.static_port
        if port is not None and server is not None and server[1] == port:
            return "static"
        return "api"

    async def _handle(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        path: str = scope["path"]
        host = self._host(scope)
        scope[HOST_KEY] = host
        if host == "api" and self.state.static_port is not None:
            scope[STATIC_ROOT_KEY] = _static_root(scope, self.state.static_port)
        endpoint, prediction_id = classify(path)
        authorization = _header(scope, b"authorization")
        authorized = bearer_matches(authorization, self.state.api_key)
        scheme, _, credential = (authorization or "").partition(" ")
        index = self.state.record_request(
            scope["method"],
            path,
            endpoint,
            prediction_id,
            authorized,
            credential.strip() if scheme.lower() == "bearer" else None,
            request_id=request_id,
            host=host,
            accept=_header(scope, b"accept"),
        )
        scope[REQUEST_INDEX_KEY] = index
        send = _with_request_id(send, request_id, self.state, index)
        if host == "static" and endpoint not in STATIC_ENDPOINTS:
            await error(self.state, 404, "Not Found")(scope, receive, send)
            return
        if host == "api" and endpoint in STATIC_ENDPOINTS and self.state.static_port is not None:
            await unauthorized(self.state)(scope, receive, send)  # the gateway: unknown path
            return
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
            case "redirect":
                location = {"Location": fault.message or "/"}
                return Response(b"", status_code=fault.status or 302, headers=location)
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


def _static_root(scope: Scope, port: int) -> str:
    """The static host's root under the host name the client used for the API."""
    host_header = _header(scope, b"host") or ""
    if host_header.startswith("["):
        name = host_header[: host_header.find("]") + 1]
    else:
        name = host_header.rsplit(":", 1)[0]
    if not name:
        server = scope.get("server") or ("127.0.0.1", 0)
        name = f"[{server[0]}]" if ":" in server[0] else server[0]
    return f"{scope.get('scheme', 'http')}://{name}:{port}"


def _with_request_id(send: Send, request_id: str, state: SimulatorState, index: int) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message).append("X-Request-ID", request_id)
            state.record_status(index, message["status"])
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
