"""Response helpers shared by the simulator's routes: envelopes, errors, auth, base URL.

Every response carries `X-Request-ID`; error bodies carry the same id as `request_id`. The
middleware makes the id and puts it in `REQUEST_ID` (a context variable: the app runs in the
middleware's task), so helpers deep in a route can read it.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from contextvars import ContextVar
from http import HTTPStatus
from typing import Any, Final

from starlette import responses
from starlette.requests import Request

from .state import SimulatorState

UNAUTHORIZED_MESSAGE: Final = "Unauthorized: invalid or missing API key"
REQUEST_INDEX_KEY: Final = "atlas_sim.request_index"
STATIC_ROOT_KEY: Final = "atlas_sim.static_root"
HOST_KEY: Final = "atlas_sim.host"
REQUEST_ID: ContextVar[str] = ContextVar("atlas_sim_request_id", default="")


def static_root(request: Request) -> str:
    """The schema host's root as the client can reach it (the static.atlascloud.ai role)."""
    root = request.scope.get(STATIC_ROOT_KEY)
    return root if isinstance(root, str) else base_url(request)


class JSONResponse(responses.JSONResponse):
    """Starlette's, except that text UTF-8 cannot encode (a lone surrogate, half an emoji
    cut by a truncating server) goes out as a `\\ud83d` escape, as JavaScript's
    `JSON.stringify` sends it, instead of failing the answer."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            text = json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
            return text.encode("ascii")


def sim_state(request: Request) -> SimulatorState:
    """The SimulatorState the app was built with."""
    state: SimulatorState = request.app.state.sim
    return state


def base_url(request: Request) -> str:
    """This server's root as the client addressed it, without a trailing slash."""
    return str(request.base_url).rstrip("/")


def bearer_matches(authorization: str | None, api_key: str) -> bool:
    """True if an `Authorization` header value carries `api_key` as a bearer token."""
    if not authorization:
        return False
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), api_key.encode())


def is_authorized(request: Request) -> bool:
    return bearer_matches(request.headers.get("authorization"), sim_state(request).api_key)


def ok(
    state: SimulatorState, data: Any, *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A 200 success body, with or without the `data` envelope per the state's settings."""
    body: dict[str, Any] = {"code": 200, state.message_key: "success"}
    if state.envelope or not isinstance(data, dict):
        body["data"] = data
    else:
        body.update(data)
    return JSONResponse(body, status_code=200, headers=headers)


def error_body(state: SimulatorState, status: int, message: str, data: Any = None) -> Any:
    """`{"code", "msg", "request_id", "data"}` (`message` instead of `msg` if the state says)."""
    request_id = REQUEST_ID.get()
    return {"code": status, state.message_key: message, "request_id": request_id, "data": data}


def error(
    state: SimulatorState,
    status: int,
    message: str | None = None,
    data: Any = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The JSON error envelope `{"code", "msg", "request_id", "data"}` with that status."""
    text = message if message is not None else status_phrase(status)
    return JSONResponse(error_body(state, status, text, data), status_code=status, headers=headers)


def status_phrase(status: int) -> str:
    """The standard reason phrase of an HTTP status, or "Error" for an unknown one."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def unauthorized(state: SimulatorState) -> JSONResponse:
    return error(state, 401, UNAUTHORIZED_MESSAGE, headers={"WWW-Authenticate": "Bearer"})


def attach_prediction(request: Request, prediction_id: str) -> None:
    """Record on the request log which job this request created."""
    index = request.scope.get(REQUEST_INDEX_KEY)
    if isinstance(index, int):
        sim_state(request).attach_prediction(index, prediction_id)


def public_error(
    status: int, error_type: str, code: str, message: str, param: str | None = None
) -> JSONResponse:
    """An error of the `/public/v1` account endpoints: `{"error": {type, code, message, param}}`."""
    body = {"error": {"type": error_type, "code": code, "message": message, "param": param}}
    return JSONResponse(body, status_code=status)
