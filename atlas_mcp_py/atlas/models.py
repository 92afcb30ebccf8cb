"""Wire shapes of the Atlas API and the tolerant parsing of their many variants.

Every parser here takes the decoded JSON body and accepts each variant seen in the
docs and in Atlas's own client: with or without the `data` envelope, `message` or `msg`,
outputs as strings or `{url}` objects, any status name.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from atlas_mcp_py.atlas.outputs import as_output
from atlas_mcp_py.errors import APIResponseError

__all__ = [
    "FAILURE_STATUSES",
    "RUNNING_STATUSES",
    "SUCCESS_STATUSES",
    "Balance",
    "HistoryItem",
    "ModelInfo",
    "Prediction",
    "PredictionState",
    "Upload",
    "error_message",
    "normalise_status",
    "parse_balance",
    "parse_history",
    "parse_models",
    "parse_prediction",
    "parse_upload",
    "unix_seconds",
    "unwrap",
]

PredictionState = Literal["processing", "completed", "failed"]

RUNNING_STATUSES = frozenset({"created", "starting", "queued", "processing", "pending", "running"})
SUCCESS_STATUSES = frozenset({"completed", "succeeded", "success"})
FAILURE_STATUSES = frozenset({"failed", "canceled", "cancelled", "timeout", "error", "rejected"})


def normalise_status(raw: str | None) -> PredictionState:
    """Map any Atlas status name to processing/completed/failed (unknown = still running)."""
    status = (raw or "").strip().lower()
    if status in SUCCESS_STATUSES:
        return "completed"
    if status in FAILURE_STATUSES:
        return "failed"
    return "processing"


def unwrap(body: Any) -> Any:
    """The payload of a response: `body["data"]` when enveloped, else the body itself."""
    if isinstance(body, dict) and "data" in body:
        return body["data"]
    return body


def error_message(body: Any, default: str = "") -> str:
    """The human message of an error body: `message`, then `msg`, then `error`."""
    if isinstance(body, dict):
        for key in ("message", "msg", "error"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
            if isinstance(value, dict):  # {"error": {"message": ...}}
                nested = error_message(value)
                if nested:
                    return nested
    return default


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


class ModelInfo(BaseModel):
    """One entry of the model catalog."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    type: str
    """Lower case: video, image, audio, text (or whatever Atlas says)."""
    price: float | None = None
    """Base price in USD per `price_unit`, when the catalog states one."""
    price_unit: str | None = None
    """The catalog's `unit`, or None when it gives none (see `capabilities.billing_unit`)."""
    min_duration: float | None = None
    """`minDuration`: a per-second model bills at least this many seconds."""
    description: str = ""
    tags: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    """Kinds such as `TEXT-TO-VIDEO`, `IMAGE-TO-VIDEO`, `VIDEO-TO-VIDEO`."""
    schema_url: str | None = None
    readme_url: str | None = None
    hidden: bool = False


class Prediction(BaseModel):
    """A generation job as Atlas reports it."""

    id: str
    model: str | None = None
    status: str
    """The status name exactly as Atlas sent it."""
    outputs: list[str] = []
    error: str | None = None
    error_code: str | None = None
    created_at: str | None = None
    completed_at: str | None = None
    predict_time: float | None = None
    has_nsfw_contents: bool | None = None
    request_id: str | None = None
    """`X-Request-ID` of the answer that created the job (Atlas support asks for it)."""
    expire_hours: float | None = None
    """How long Atlas keeps the outputs, when the answer says (else its 14 days)."""

    @property
    def state(self) -> PredictionState:
        return normalise_status(self.status)


class Upload(BaseModel):
    """A file stored by Atlas's upload endpoint."""

    url: str
    filename: str | None = None
    size: int | None = None
    type: str | None = None
    content_type: str | None = None


class HistoryItem(BaseModel):
    """One row of `/model/history`."""

    id: str
    created_at: float | None = None
    model: str | None = None
    status: str | None = None
    request_body: dict[str, Any] | None = None
    result: Prediction | None = None


def _require_dict(payload: Any, what: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise APIResponseError(f"Atlas sent an unexpected {what} response (not an object)")
    return payload


def _outputs(raw: Any) -> list[str]:
    """The output strings: links, data URLs, raw base64 images made data URLs."""
    if raw is None:
        return []
    if isinstance(raw, str):
        return [as_output(raw)] if raw else []
    urls: list[str] = []
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, str) and item:
                urls.append(as_output(item))
            elif isinstance(item, dict):
                url = item.get("url") or item.get("uri") or item.get("download_url")
                if isinstance(url, str) and url:
                    urls.append(as_output(url))
    return urls


def _str_or_none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def parse_prediction(body: Any, *, prediction_id: str | None = None) -> Prediction:
    """A Prediction from a response body (enveloped or not).

    `prediction_id` is the id that was asked for: the failed-job-as-HTTP-500 answer
    (`{"code": 500, "message": ..., "data": {"status": "failed", "error": ...}}`) may
    carry no id of its own. A failed job without an `error` takes the message of an error
    envelope (`code` >= 400).
    """
    data = _require_dict(unwrap(body), "prediction")
    pid = data.get("id") or data.get("prediction_id") or data.get("ID") or prediction_id
    if not pid:
        raise APIResponseError("Atlas's answer carries no prediction id")
    if not isinstance(pid, str | int) or isinstance(pid, bool) or len(str(pid)) > 200:
        raise APIResponseError("Atlas's answer carries a prediction id that is not one")
    metrics: dict[str, Any] = data["metrics"] if isinstance(data.get("metrics"), dict) else {}
    status = str(data.get("status") or "created")
    error = data.get("error")
    if isinstance(error, dict):
        error = error_message(error) or json.dumps(error)
    if not error and normalise_status(status) == "failed" and _error_envelope(body):
        error = error_message(body) or None
    return Prediction(
        id=str(pid),
        model=_str_or_none(data.get("model")),
        status=status,
        outputs=_outputs(data.get("outputs", data.get("output"))),
        error=_str_or_none(error),
        error_code=_str_or_none(data.get("error_code")),
        created_at=_str_or_none(data.get("created_at")),
        completed_at=_str_or_none(data.get("completed_at")),
        # Only `metrics.predict_time` is documented in seconds; `executionTime` has no
        # documented unit (the simulator sends milliseconds), so it is not used.
        predict_time=_float(metrics.get("predict_time")),
        has_nsfw_contents=_nsfw(data.get("has_nsfw_contents")),
    )


def _error_envelope(body: Any) -> bool:
    """An envelope whose `code` says error (its message then describes the failure)."""
    code = body.get("code") if isinstance(body, dict) else None
    return isinstance(code, int) and code >= 400


def _nsfw(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, list):
        return any(bool(v) for v in value)
    return None


def _price(raw: Any) -> tuple[float | None, str | None]:
    """(base price, unit): the `actual` price, its unit else `origin`'s (as Atlas's own
    client reads them; None when neither states one)."""
    if not isinstance(raw, dict):
        return _float(raw), None
    actual: dict[str, Any] = raw["actual"] if isinstance(raw.get("actual"), dict) else raw
    origin: dict[str, Any] = raw["origin"] if isinstance(raw.get("origin"), dict) else {}
    price = _float(actual.get("base_price", actual.get("price")))
    unit = actual.get("unit") or origin.get("unit")
    return price, unit if isinstance(unit, str) and unit.strip() else None


def _min_duration(item: dict[str, Any]) -> float | None:
    """`minDuration` (seconds billed at least), on the entry or its price."""
    price = item.get("price")
    raw = item.get("minDuration")
    if raw is None and isinstance(price, dict):
        raw = price.get("minDuration")
    value = _float(raw)
    return value if value is not None and math.isfinite(value) and value > 0 else None


def parse_models(body: Any) -> list[ModelInfo]:
    """The catalog, hidden models included (they carry `hidden=True`)."""
    data: Any = unwrap(body)
    if isinstance(data, dict):  # {"data": {"models": [...]}} or {"items": [...]}
        data = data.get("models", data.get("items"))
    if not isinstance(data, list):
        raise APIResponseError("Atlas sent an unexpected model catalog (not a list)")
    models: list[ModelInfo] = []
    for item in data:
        if not isinstance(item, dict) or not item.get("model"):
            continue
        price, unit = _price(item.get("price"))
        tags: list[Any] = item["tags"] if isinstance(item.get("tags"), list) else []
        categories: Any = item.get("categories")
        if isinstance(categories, str):
            categories = [categories]
        elif not isinstance(categories, list):
            categories = []
        models.append(
            ModelInfo(
                id=str(item["model"]),
                name=str(item.get("displayName") or item.get("name") or item["model"]),
                type=str(item.get("type") or "unknown").lower(),
                price=price,
                price_unit=unit,
                min_duration=_min_duration(item),
                description=str(item.get("profile") or item.get("description") or ""),
                tags=tuple(str(t) for t in tags),
                categories=tuple(
                    str(c.get("name") if isinstance(c, dict) else c) for c in categories
                ),
                schema_url=_str_or_none(item.get("schema")),
                readme_url=_str_or_none(item.get("readme")),
                hidden=item.get("display_console") is False,
            )
        )
    return models


class Balance(BaseModel):
    """The account's available balance (`/public/v1/balance`)."""

    available: float
    currency: str = "usd"

    def text(self) -> str:
        if self.currency.lower() == "usd":
            return f"${self.available:,.2f}"
        return f"{self.available:,.2f} {self.currency.upper()}"


def parse_balance(body: Any) -> Balance:
    """The available balance of a `/public/v1/balance` answer (not wrapped in `data`,
    though a wrapped one is read too)."""
    data = body if isinstance(body, dict) and "available" in body else unwrap(body)
    data = _require_dict(data, "balance")
    raw = data.get("available")
    value = _float(raw.get("value") if isinstance(raw, dict) else raw)
    if value is None:
        raise APIResponseError("Atlas's balance answer carries no available amount")
    currency = raw.get("currency") if isinstance(raw, dict) else data.get("currency")
    return Balance(available=value, currency=str(currency or "usd"))


def parse_upload(body: Any) -> Upload:
    """The stored file from an `/model/uploadMedia` answer (`download_url` or `url`)."""
    data = _require_dict(unwrap(body), "upload")
    url = data.get("download_url") or data.get("url") or data.get("downloadUrl")
    if not isinstance(url, str) or not url:
        raise APIResponseError("Atlas's upload answer carries no download URL")
    size = _float(data.get("size"))
    return Upload(
        url=url,
        filename=_str_or_none(data.get("filename") or data.get("file_name")),
        size=int(size) if size is not None and size >= 0 and size.is_integer() else None,
        type=_str_or_none(data.get("type")),
        content_type=_str_or_none(data.get("content_type")),
    )


def _json_object(value: Any) -> dict[str, Any] | None:
    """A dict, or a JSON string holding one (history rows store both ways); else None."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def parse_history(body: Any) -> list[HistoryItem]:
    """One page of `/model/history`; rows without an id are skipped."""
    data: Any = unwrap(body)
    items: Any = data.get("items", ...) if isinstance(data, dict) else data
    if items is None:  # an empty page may come back as "items": null
        items = []
    if not isinstance(items, list):
        raise APIResponseError("Atlas sent an unexpected history page (no items)")
    rows: list[HistoryItem] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        pid = item.get("ID") or item.get("id")
        if not pid:
            continue
        request_body = _json_object(item.get("requestBody"))
        result = _json_object(item.get("result"))
        prediction: Prediction | None = None
        if isinstance(result, dict):
            try:
                prediction = parse_prediction({"id": pid, **result})
            except APIResponseError:
                prediction = None
        rows.append(
            HistoryItem(
                id=str(pid),
                created_at=_float(item.get("createdAt")),
                model=_str_or_none(item.get("model")),
                status=_str_or_none(item.get("status")),
                request_body=request_body,
                result=prediction,
            )
        )
    return rows


def unix_seconds(value: str | None) -> float | None:
    """An Atlas timestamp (unix seconds, or ISO-8601; naive means UTC) as unix seconds."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
