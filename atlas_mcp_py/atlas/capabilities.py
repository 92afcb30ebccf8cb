"""What catalog models take and cost: for `atlas_list_models`, and for refusals that
suggest other models (text-to-video ones, ones with a last frame), with their prices.

A model's inputs come from its schema (`inputs.model_inputs`) when it can be read (or
the notes of an earlier reading say, `takes.TakesNotes`), else from its catalog
categories and id (`inputs.catalog_sources`).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread

from atlas_mcp_py.atlas.client import AtlasClient
from atlas_mcp_py.atlas.inputs import catalog_sources, model_inputs
from atlas_mcp_py.atlas.models import ModelInfo
from atlas_mcp_py.atlas.takes import ModelTakes, TakesNotes
from atlas_mcp_py.errors import AtlasError

__all__ = [
    "Estimate",
    "ModelTakes",
    "billing_unit",
    "cost_estimate",
    "estimate_cost",
    "keep_takes",
    "last_frame_models",
    "model_takes",
    "price_text",
    "text_models",
]

SUGGESTED = 4
"""How many other models a refusal names."""
TYPICAL_SECONDS = 5
"""The video length by which per-second prices are compared with per-job ones."""
DESCRIBED_SCHEMAS = 40
"""atlas_list_models reads the schemas of at most this many listed models (the rest are
described by their catalog categories)."""
DESCRIBE_SECONDS = 10.0
"""How long atlas_list_models waits for schemas before describing by catalog."""


@dataclass(frozen=True)
class Estimate:
    """A request's estimated price and the rule that gave it (`basis`, for the person)."""

    usd: float | None
    basis: str


def billing_unit(model: ModelInfo) -> tuple[str | None, bool]:
    """(unit of the base price, was it implied?). A price with no `unit` is per second
    for a video model and per image for an image model, as Atlas's own MCP server reads
    the catalog (atlascloud-mcp 1.7.0, `getPriceUnitKind`); other types: per request."""
    if model.price_unit:
        return model.price_unit.lower(), False
    implied = {"video": "second", "image": "image"}.get(model.type)
    return implied, implied is not None


def _number(value: Any) -> float | None:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def cost_estimate(model: ModelInfo, body: Mapping[str, Any]) -> Estimate | None:
    """The catalog price for this request (`body` with its defaults), and how it was
    counted; None when the catalog states no price."""
    if model.price is None:
        return None
    unit, implied = billing_unit(model)
    price = f"${model.price:g}"
    why = f" (the catalog gives no unit: a {model.type} model's price is per {unit})"
    why = why if implied else ""
    if unit is not None and unit.startswith("second"):
        duration = _number(body.get("duration"))
        minimum = model.min_duration
        if duration is None and minimum is None:
            return Estimate(
                None,
                f"{price} per second{why}; the request names no duration, so the total is unknown",
            )
        seconds = max(duration or 0.0, minimum or 0.0)
        floor = ""
        if minimum is not None and seconds == minimum and duration != minimum:
            floor = f", billed for at least {minimum:g} s"
        total = round(model.price * seconds, 4)
        return Estimate(total, f"{price} per second x {seconds:g} s{floor}{why}")
    if unit is not None and unit.startswith("image"):
        count = body.get("max_images", body.get("num_images"))  # image models' batch size
        images = count if isinstance(count, int) and not isinstance(count, bool) else 1
        images = max(1, images)
        plural = "s" if images != 1 else ""
        total = round(model.price * images, 4)
        return Estimate(total, f"{price} per image x {images} image{plural}{why}")
    return Estimate(model.price, f"{price} per {unit or 'request'}")


def estimate_cost(model: ModelInfo, body: Mapping[str, Any]) -> float | None:
    """The catalog price for this request, when it can be told (`cost_estimate`)."""
    found = cost_estimate(model, body)
    return found.usd if found is not None else None


def price_text(model: ModelInfo) -> str:
    """`$0.28/generation`, `$0.1/second` (also when implied), or `price not listed`."""
    if model.price is None:
        return "price not listed"
    unit = billing_unit(model)[0]
    least = f", at least {model.min_duration:g} s" if model.min_duration else ""
    return f"${model.price:g}/{unit or 'request'}{least}"


def _sources(model: ModelInfo) -> list[str]:
    return catalog_sources((*model.categories, *model.tags), model.id)


async def text_models(client: AtlasClient, limit: int = SUGGESTED) -> str:
    """A few text-to-video models of the catalog with their prices, cheapest first (a
    per-second price counted for a 5 s video)."""
    try:
        models = await client.list_models()
    except AtlasError:
        models = []
    found = [m for m in models if m.type == "video" and "text" in _sources(m)]
    found.sort(key=lambda m: (m.price is None, _typical_cost(m), m.id))
    if not found:
        return "atlas_list_models lists them"
    return ", ".join(f"{m.id} ({price_text(m)})" for m in found[:limit])


_READ: weakref.WeakKeyDictionary[AtlasClient, dict[str, ModelTakes]] = weakref.WeakKeyDictionary()
"""What each client's schemas said, by model id (the client keeps a schema once read,
so this never goes stale): a listing reads and analyses each schema once."""
_NOTES: weakref.WeakKeyDictionary[AtlasClient, TakesNotes] = weakref.WeakKeyDictionary()
"""Each server client's notes file (`keep_takes`)."""


def keep_takes(client: AtlasClient, notes: TakesNotes) -> None:
    """`model_takes(client, ...)` trusts and keeps notes in `notes` from now on."""
    _NOTES[client] = notes


async def model_takes(client: AtlasClient, models: list[ModelInfo]) -> dict[str, ModelTakes]:
    """`ModelTakes` of each model, schemas read a few at a time, within a time limit
    (none of those the client's notes know, `keep_takes`)."""
    read = _READ.setdefault(client, {})
    notes = _NOTES.get(client)
    missing = [m for m in models[:DESCRIBED_SCHEMAS] if m.schema_url and m.id not in read]
    if notes is not None and missing:
        await anyio.to_thread.run_sync(notes.load)
        for model in missing:
            noted = notes.usable(model.id, model.schema_url or "")
            if noted is not None:
                read[model.id] = noted
        missing = [m for m in missing if m.id not in read]
    found = {m.id: read.get(m.id) or ModelTakes(_sources(m), []) for m in models}
    if not missing:
        return found
    limiter = anyio.CapacityLimiter(8)
    fresh: dict[str, tuple[str, ModelTakes]] = {}

    async def fetch(model: ModelInfo) -> None:
        async with limiter:
            try:
                schema = await client.get_input_schema(model.id)
            except AtlasError:
                return  # described by the catalog this time; tried again next time
        if schema is not None:
            inputs = model_inputs(schema.schema)
            takes = ModelTakes(inputs.sources, inputs.frames, inputs.last_frame)
            found[model.id] = read[model.id] = takes
            fresh[model.id] = (model.schema_url or "", takes)

    with anyio.move_on_after(DESCRIBE_SECONDS):
        async with anyio.create_task_group() as group:
            for model in missing:
                group.start_soon(fetch, model)
    if notes is not None and fresh:
        await anyio.to_thread.run_sync(notes.save, fresh)
    return found


def _typical_cost(model: ModelInfo) -> float:
    """The price of a typical request, to compare per-job and per-second prices."""
    cost = estimate_cost(model, {"duration": TYPICAL_SECONDS})
    return cost if cost is not None else math.inf


async def last_frame_models(client: AtlasClient, exclude: str) -> str:
    """A few image-to-video models that take a last frame, with their prices."""
    try:
        models = await client.list_models()
    except AtlasError:
        return ""
    candidates = [
        m for m in models if m.type == "video" and m.id != exclude and "image" in _sources(m)
    ]
    takes = await model_takes(client, candidates)
    found = [m for m in candidates if takes[m.id].last_frame is not None]
    found.sort(key=lambda m: (m.price is None, _typical_cost(m), m.id))
    if not found:
        return ""
    named = ", ".join(
        f"{m.id} ({price_text(m)}; last frame `{takes[m.id].frames[-1]}`)"
        for m in found[:SUGGESTED]
    )
    return f" Models that take one: {named}."
