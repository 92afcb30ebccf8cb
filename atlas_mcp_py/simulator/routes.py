"""The Atlas endpoints: catalog, schemas, readmes, generate, prediction, history, files,
and the account's balance.

Generate refuses, with a 400 and nothing billed, what the real API refuses: a missing
required parameter, an unknown, hidden or disabled one, a value outside the schema (enum,
bounds, type), a media file in a format or size the model does not take. A model the account
cannot use (not in the catalog, or marked unavailable) is a 404; too little balance a 402.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .catalog import (
    GENERATE_PATHS,
    model_payload,
    openapi_document,
    readme_markdown,
)
from .frames import check_media
from .jobs import (
    ASSETS_DIR,
    DEFAULT_EXPIRATION_HOURS,
    OUTPUT_ASSETS,
    Job,
    iso_time,
    parse_directives,
    prediction_payload,
)
from .responses import (
    REQUEST_ID,
    attach_prediction,
    base_url,
    error,
    error_body,
    is_authorized,
    ok,
    public_error,
    sim_state,
    static_root,
    unauthorized,
)
from .state import SimulatorState
from .upload import upload_media
from .validation import ParameterError, validate_params

logger = logging.getLogger(__name__)

EXPIRATION_HEADER: Final = "X-AtlasCloud-Object-Expiration-Hours"
RETENTION_HEADER: Final = "X-AtlasCloud-Request-Retention-Hours"
MEDIA_TYPES: Final = {"mp4": "video/mp4", "png": "image/png", "wav": "audio/wav"}
MAX_PAGE_SIZE: Final = 100


async def list_models(request: Request) -> Response:
    state = sim_state(request)
    root = static_root(request)
    return ok(state, [model_payload(spec, root) for spec in state.catalog])


async def model_schema(request: Request) -> Response:
    model_id = _strip_suffix(request.path_params["model_path"], ".json")
    spec = sim_state(request).find_model(model_id) if model_id else None
    if spec is None:
        return error(sim_state(request), 404, f"No schema for model '{model_id}'")
    return JSONResponse(openapi_document(spec))


async def model_readme(request: Request) -> Response:
    model_id = _strip_suffix(request.path_params["model_path"], ".md")
    spec = sim_state(request).find_model(model_id) if model_id else None
    if spec is None:
        return error(sim_state(request), 404, f"No readme for model '{model_id}'")
    return Response(readme_markdown(spec), media_type="text/markdown; charset=utf-8")


def _strip_suffix(path: str, suffix: str) -> str | None:
    return path[: -len(suffix)] if path.endswith(suffix) else None


async def _generate(request: Request, model_type: str) -> Response:
    """A generate POST answered as Atlas does (over 60 lines: its checks in the real order)."""
    state = sim_state(request)
    if not is_authorized(request):
        return unauthorized(state)
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError:
        return error(state, 400, "Request body must be a JSON object")
    if not isinstance(body, dict):
        return error(state, 400, "Request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return error(state, 400, "Missing required parameter 'model'.")
    spec = state.find_model(model)
    if spec is None or not spec.available:
        return error(state, 404, f"Model '{model}' not found or not available to this account.")
    try:
        expiration_hours = _hours_header(request, EXPIRATION_HEADER, 1)
        _hours_header(request, RETENTION_HEADER, 0)  # checked; the record is kept regardless
    except ParameterError as exc:
        return error(state, 400, exc.message)
    if spec.type != model_type:
        where = GENERATE_PATHS.get(spec.type, "the OpenAI-compatible /v1 API")
        return error(state, 400, f"Model '{model}' is a {spec.type} model; use {where}.")
    params: dict[str, Any] = {k: v for k, v in body.items() if k not in ("model", "input")}
    if "input" in body:
        nested = body["input"]
        if not isinstance(nested, dict):
            return error(state, 400, "Invalid parameter 'input': must be an object.")
        params = {**{k: v for k, v in nested.items() if k != "model"}, **params}
    schema = spec.input_schema()
    try:
        validate_params(schema, params, skip=frozenset({"model"}))
        check_media(schema, params, _upload_finder(state))
    except ParameterError as exc:
        return error(state, 400, exc.message)
    price = spec.price_for(params)
    if not state.charge(price):
        return error(
            state,
            402,
            f"Insufficient balance: this request costs ${price:.2f}, the account has "
            f"${state.balance_usd:.2f}. Top up in the Atlas Cloud console.",
        )
    directives = parse_directives(params)
    root = base_url(request)
    seconds = directives.seconds if directives.seconds is not None else state.job_length(spec)
    sync = params.get("enable_sync_mode") is True  # answered once done, outputs included
    if sync and directives.seconds is None:
        seconds = 0.0
    job = Job(
        id=uuid.uuid4().hex,
        model=model,
        model_type=model_type,
        params=params,
        request_body=raw.decode("utf-8", errors="replace"),
        price=price,
        created_wall=time.time(),
        started=state.now(),
        duration=seconds,
        base_url=root,
        directives=directives,
        request_id=REQUEST_ID.get(),
        expiration_hours=expiration_hours,
        base64_style=spec.base64_style,
    )
    state.add_job(job)
    attach_prediction(request, job.id)
    logger.info("prediction %s created for %s (price $%g)", job.id, model, price)
    ended = job.outcome(state.now()) if sync else None
    if ended is not None and not ended.http_500:
        return ok(state, prediction_payload(job, state.now(), root, state.output_style))
    return ok(
        state,
        {
            "id": job.id,
            "model": model,
            "status": "created",
            "created_at": iso_time(job.created_wall),
            "outputs": None,
            "urls": {"get": f"{root}/api/v1/model/prediction/{job.id}"},
        },
    )


def _hours_header(request: Request, name: str, low: int) -> int:
    """A whole number of hours from `low` to 336 in header `name` (336 if absent)."""
    raw = request.headers.get(name)
    if raw is None:
        return DEFAULT_EXPIRATION_HOURS
    value = raw.strip()
    if not value.isdigit() or not low <= int(value) <= DEFAULT_EXPIRATION_HOURS:
        raise ParameterError(
            f"Invalid header {name}: expected whole hours from {low} to "
            f"{DEFAULT_EXPIRATION_HOURS}, got '{value[:20]}'."
        )
    return int(value)


def _upload_finder(state: SimulatorState) -> Callable[[str, str], Path | None]:
    def find(upload_id: str, name: str) -> Path | None:
        record = state.uploads.get(upload_id)
        return record.path if record is not None and record.filename == name else None

    return find


async def generate_video(request: Request) -> Response:
    return await _generate(request, "Video")


async def generate_image(request: Request) -> Response:
    return await _generate(request, "Image")


async def generate_audio(request: Request) -> Response:
    return await _generate(request, "Audio")


async def get_prediction(request: Request) -> Response:
    state = sim_state(request)
    if not is_authorized(request):
        return unauthorized(state)
    prediction_id: str = request.path_params["prediction_id"]
    job = state.job(prediction_id)
    if job is None:
        return error(state, 404, f"Prediction '{prediction_id}' not found")
    now = state.now()
    outcome = job.outcome(now)
    if outcome is not None and outcome.http_500:
        data = {"id": job.id, "status": "failed", "error": outcome.error}
        body = error_body(state, 500, f"Generation failed: {outcome.error}", data)
        return JSONResponse(body, status_code=500)
    return ok(state, prediction_payload(job, now, base_url(request), state.output_style))


async def history(request: Request) -> Response:
    state = sim_state(request)
    if not is_authorized(request):
        return unauthorized(state)
    try:
        page = int(request.query_params.get("no", "1"))
        size = int(request.query_params.get("size", "20"))
    except ValueError:
        return error(state, 400, "Invalid parameter 'no' or 'size': must be an integer.")
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        return error(state, 400, f"Invalid paging: no >= 1 and 1 <= size <= {MAX_PAGE_SIZE}.")
    model = request.query_params.get("model")
    status = request.query_params.get("status")
    now = state.now()
    root = base_url(request)
    jobs = [
        job
        for job in reversed(state.jobs())
        if (model is None or job.model == model) and (status is None or job.status(now) == status)
    ]
    items = [
        {
            "ID": job.id,
            "createdAt": int(job.created_wall),
            "model": job.model,
            "status": job.status(now),
            "requestBody": job.request_body,
            "result": (
                prediction_payload(job, now, root, state.output_style)
                if job.outcome(now) is not None
                else None
            ),
        }
        for job in jobs[(page - 1) * size : page * size]
    ]
    return ok(state, {"items": items, "pageNo": page, "pageSize": size, "total": len(jobs)})


async def output_file(request: Request) -> Response:
    state = sim_state(request)
    job = state.job(request.path_params["prediction_id"])
    name: str = request.path_params["name"]
    now = state.now()
    outcome = job.outcome(now) if job is not None else None
    if job is None or outcome is None or not outcome.succeeded or name not in job.output_names():
        return error(state, 404, "File not found")
    if job.outputs_expired(now):
        return error(state, 404, "File not found: the output has expired")
    asset = ASSETS_DIR / OUTPUT_ASSETS[job.model_type][1]
    return FileResponse(asset, media_type=MEDIA_TYPES[asset.suffix[1:]])


async def uploaded_file(request: Request) -> Response:
    state = sim_state(request)
    record = state.uploads.get(request.path_params["upload_id"])
    if record is None or record.filename != request.path_params["name"]:
        return error(state, 404, "File not found")
    if not record.path.is_file():
        return error(state, 404, "File expired")
    return FileResponse(record.path, media_type=record.content_type)


async def balance(request: Request) -> Response:
    state = sim_state(request)
    if not is_authorized(request):
        return public_error(
            401, "authentication_error", "invalid_api_key", "Invalid or missing API key."
        )
    cash, bonus = state.cash_usd, state.bonus_usd
    return JSONResponse(
        {
            "account": {"id": "acct_sim", "email": "simulator@example.com", "type": "personal"},
            "available": _money(cash + bonus),
            "cash": _money(cash),
            "bonus": _money(bonus),
            "frozen": _money(0.0),
        }
    )


def _money(usd: float) -> dict[str, str]:
    return {"value": f"{usd:.6f}", "currency": "usd"}


def atlas_routes() -> list[BaseRoute]:
    return [
        Route("/api/v1/models", list_models, methods=["GET"]),
        Route("/model/schema/{model_path:path}", model_schema, methods=["GET"]),
        Route("/model/readme/{model_path:path}", model_readme, methods=["GET"]),
        Route("/public/v1/balance", balance, methods=["GET"]),
        Route("/api/v1/model/generateVideo", generate_video, methods=["POST"]),
        Route("/api/v1/model/generateImage", generate_image, methods=["POST"]),
        Route("/api/v1/model/generateAudio", generate_audio, methods=["POST"]),
        Route("/api/v1/model/prediction/{prediction_id}", get_prediction, methods=["GET"]),
        Route("/api/v1/model/uploadMedia", upload_media, methods=["POST"]),
        Route("/api/v1/model/history", history, methods=["GET"]),
        Route("/files/outputs/{prediction_id}/{name}", output_file, methods=["GET"]),
        Route("/files/uploads/{upload_id}/{name}", uploaded_file, methods=["GET"]),
    ]
