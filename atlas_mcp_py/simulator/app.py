"""`create_app(state)`: the simulated Atlas API (and its schema host) as one Starlette app."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from .control import control_routes
from .faults import SimulatorMiddleware
from .responses import HOST_KEY, error, sim_state, unauthorized
from .routes import atlas_routes
from .state import SimulatorState


async def _http_error(request: Request, exc: Exception) -> Response:
    """Wrong methods and unknown paths answer with the API's JSON error envelope.

    The API's gateway checks the key before routing, so a path it does not know is a 401
    even with a good key (a base URL ending in `/api/v1` gives `/api/v1/api/v1/...`).
    """
    state = sim_state(request)
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    on_api = request.scope.get(HOST_KEY, "api") == "api"
    if status == 404 and on_api and not request.url.path.startswith("/_sim/"):
        return unauthorized(state)
    return error(state, status)


def create_app(state: SimulatorState) -> Starlette:
    """Build the simulator app around `state` (which tests keep to script and inspect it).

    The same app serves both listening sockets of `SimulatorServer`; the middleware tells
    the API port from the schema port (`state.static_port`).
    """
    app = Starlette(
        routes=[*atlas_routes(), *control_routes()],
        middleware=[Middleware(SimulatorMiddleware, state=state)],
        exception_handlers={HTTPException: _http_error},
    )
    app.state.sim = state
    return app
