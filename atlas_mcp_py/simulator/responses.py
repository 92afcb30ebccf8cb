"""Response helpers shared by the simulator's routes: envelopes, errors, auth, base URL."""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Final

from starlette import responses
from starlette.requests import Request

from .state import SimulatorState

UNAUTHORIZED_MESSAGE: Final = "Unauthorized: invalid or missing API key"
REQUEST_INDEX_KEY: Final = "atlas_sim.request_index"


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
    return {"code": status, state.message_key: message, "data": data}


def error(
    state: SimulatorState,
    status: int,
    message: str | None = None,
    data: Any = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The JSON error envelope `{"code", "message"|"msg", "data"}` with a matching status."""
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
