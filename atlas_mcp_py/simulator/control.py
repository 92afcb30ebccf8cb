"""`/_sim/...`: control endpoints to script and inspect the simulator over HTTP (no auth)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .responses import sim_state
from .state import Fault

_FAULTS = TypeAdapter(Fault | list[Fault])


def _problem(status: int, message: str, detail: Any = None) -> JSONResponse:
    return JSONResponse({"error": message, "detail": detail}, status_code=status)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    return json.loads(raw) if raw.strip() else None


async def add_faults(request: Request) -> Response:
    try:
        parsed = _FAULTS.validate_python(await _json_body(request))
    except ValueError as exc:  # JSONDecodeError and pydantic's ValidationError
        detail = exc.errors(include_url=False) if isinstance(exc, ValidationError) else str(exc)
        return _problem(400, "body must be a Fault or a list of Faults", detail)
    faults = parsed if isinstance(parsed, list) else [parsed]
    state = sim_state(request)
    state.add_faults(faults)
    return JSONResponse({"queued": len(faults), "pending": len(state.pending_faults)})


async def list_faults(request: Request) -> Response:
    faults = sim_state(request).pending_faults
    return JSONResponse([fault.model_dump() for fault in faults])


async def clear_faults(request: Request) -> Response:
    return JSONResponse({"cleared": sim_state(request).clear_faults()})


async def list_requests(request: Request) -> Response:
    return JSONResponse([dataclasses.asdict(r) for r in sim_state(request).requests])


async def list_uploads(request: Request) -> Response:
    uploads = sim_state(request).uploads.values()
    return JSONResponse([{**dataclasses.asdict(u), "path": str(u.path)} for u in uploads])


async def list_predictions(request: Request) -> Response:
    records = sim_state(request).predictions.values()
    return JSONResponse([dataclasses.asdict(r) for r in records])


async def show_state(request: Request) -> Response:
    state = sim_state(request)
    return JSONResponse(
        {
            "balance_usd": state.balance_usd,
            "job_seconds": state.job_seconds,
            "max_upload_bytes": state.max_upload_bytes,
            "envelope": state.envelope,
            "message_key": state.message_key,
            "output_style": state.output_style,
            "pending_faults": len(state.pending_faults),
        }
    )


async def complete_prediction(request: Request) -> Response:
    state = sim_state(request)
    prediction_id: str = request.path_params["prediction_id"]
    try:
        state.complete(prediction_id)
    except KeyError:
        return _problem(404, f"no prediction {prediction_id}")
    return JSONResponse({"id": prediction_id, "status": state.predictions[prediction_id].status})


async def fail_prediction(request: Request) -> Response:
    state = sim_state(request)
    prediction_id: str = request.path_params["prediction_id"]
    try:
        body = await _json_body(request) or {}
    except ValueError as exc:
        return _problem(400, "body must be JSON", str(exc))
    if not isinstance(body, dict):
        return _problem(400, "body must be an object: {error, error_code, http_500}")
    kwargs: dict[str, Any] = {
        "error_code": body.get("error_code"),
        "http_500": bool(body.get("http_500")),
    }
    if isinstance(body.get("error"), str):
        kwargs["error"] = body["error"]
    try:
        state.fail(prediction_id, **kwargs)
    except KeyError:
        return _problem(404, f"no prediction {prediction_id}")
    return JSONResponse({"id": prediction_id, "status": state.predictions[prediction_id].status})


async def reset(request: Request) -> Response:
    sim_state(request).reset()
    return JSONResponse({"reset": True})


def control_routes() -> list[BaseRoute]:
    return [
        Route("/_sim/faults", add_faults, methods=["POST"]),
        Route("/_sim/faults", list_faults, methods=["GET"]),
        Route("/_sim/faults", clear_faults, methods=["DELETE"]),
        Route("/_sim/requests", list_requests, methods=["GET"]),
        Route("/_sim/uploads", list_uploads, methods=["GET"]),
        Route("/_sim/predictions", list_predictions, methods=["GET"]),
        Route("/_sim/predictions/{prediction_id}/complete", complete_prediction, methods=["POST"]),
        Route("/_sim/predictions/{prediction_id}/fail", fail_prediction, methods=["POST"]),
        Route("/_sim/state", show_state, methods=["GET"]),
        Route("/_sim/reset", reset, methods=["POST"]),
    ]
