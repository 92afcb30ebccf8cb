"""`create_app(state)`: the simulated Atlas API as one Starlette application."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from .control import control_routes
from .faults import SimulatorMiddleware
from .responses import error, sim_state
from .routes import atlas_routes
from .state import SimulatorState


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and wrong methods answer with the API's JSON error envelope."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return error(sim_state(request), status)


def create_app(state: SimulatorState) -> Starlette:
    """Build the simulator app around `state` (which tests keep to script and inspect it)."""
    app = Starlette(
        routes=[*atlas_routes(), *control_routes()],
        middleware=[Middleware(SimulatorMiddleware, state=state)],
        exception_handlers={HTTPException: _http_error},
    )
    app.state.sim = state
    return app
