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
            "bonus_usd": state.bonus_usd,
            "job_seconds": state.job_seconds,
            "static_port": state.static_port,
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
    code = body.get("error_code")
    if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
        return _problem(400, "error_code must be an integer (1039: content moderation)")
    kwargs: dict[str, Any] = {
        "error_code": code,
        "http_500": bool(body.get("http_500")),
    }
    if isinstance(body.get("error"), str):
        kwargs["error"] = body["error"]
    try:
        state.fail(prediction_id, **kwargs)
    except KeyError:
        return _problem(404, f"no prediction {prediction_id}")
    return JSONResponse({"id": prediction_id, "status": state.predictions[prediction_id].status})


async def expire_prediction(request: Request) -> Response:
    """Expire the job's outputs now: their URLs answer 404 from here on."""
    state = sim_state(request)
    prediction_id: str = request.path_params["prediction_id"]
    try:
        state.expire_outputs(prediction_id)
    except KeyError:
        return _problem(404, f"no prediction {prediction_id}")
    return JSONResponse({"id": prediction_id, "outputs_expired": True})


async def set_balance(request: Request) -> Response:
    """Body `{"balance_usd": 12.5, "bonus_usd": 0}`: the account's cash and bonus credit."""
    state = sim_state(request)
    try:
        body = await _json_body(request)
    except ValueError as exc:
        return _problem(400, "body must be JSON", str(exc))
    amounts = body if isinstance(body, dict) else {}
    cash, bonus = amounts.get("balance_usd"), amounts.get("bonus_usd", 0)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (cash, bonus)):
        return _problem(400, "body must be an object: {balance_usd: number, bonus_usd?: number}")
    state.set_balance(float(cash), bonus_usd=float(bonus))  # type: ignore[arg-type]
    return JSONResponse({"balance_usd": state.balance_usd, "bonus_usd": state.bonus_usd})


async def set_availability(request: Request) -> Response:
    """Body `{"model": id, "available": false}`: generate with that model answers 404."""
    state = sim_state(request)
    try:
        body = await _json_body(request)
    except ValueError as exc:
        return _problem(400, "body must be JSON", str(exc))
    if not (
        isinstance(body, dict)
        and isinstance(body.get("model"), str)
        and isinstance(body.get("available"), bool)
    ):
        return _problem(400, "body must be an object: {model: string, available: boolean}")
    try:
        state.set_model_available(body["model"], body["available"])
    except KeyError:
        return _problem(404, f"no model {body['model']} in the catalog")
    return JSONResponse({"model": body["model"], "available": body["available"]})


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
        Route("/_sim/predictions/{prediction_id}/expire", expire_prediction, methods=["POST"]),
        Route("/_sim/balance", set_balance, methods=["POST"]),
        Route("/_sim/availability", set_availability, methods=["POST"]),
        Route("/_sim/state", show_state, methods=["GET"]),
        Route("/_sim/reset", reset, methods=["POST"]),
    ]
