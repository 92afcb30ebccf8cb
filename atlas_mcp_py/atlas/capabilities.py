"""What catalog models take and cost: for `atlas_list_models`, and for refusals that
suggest other models (text-to-video ones, ones with a last frame), with their prices.

A model's inputs come from its schema (`inputs.model_inputs`) when it can be read,
else from its catalog categories and id (`inputs.catalog_sources`).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio

from atlas_mcp_py.atlas.client import AtlasClient
from atlas_mcp_py.atlas.inputs import catalog_sources, model_inputs
from atlas_mcp_py.atlas.models import ModelInfo
from atlas_mcp_py.errors import AtlasError

__all__ = [
    "ModelTakes",
    "estimate_cost",
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


def estimate_cost(model: ModelInfo, body: Mapping[str, Any]) -> float | None:
    """The catalog price for this request, when the catalog states one."""
    if model.price is None:
        return None
    unit = (model.price_unit or "").lower()
    if unit.startswith("second"):
        duration = body.get("duration")
        if isinstance(duration, str):
            try:
                duration = float(duration)
            except ValueError:
                return None
        if isinstance(duration, int | float) and math.isfinite(duration):
            return round(model.price * duration, 4)
        return None
    count = body.get("max_images", body.get("num_images"))  # image models' batch size
    if unit.startswith("image") and isinstance(count, int) and not isinstance(count, bool):
        return round(model.price * max(1, count), 4)
    return model.price


def price_text(model: ModelInfo) -> str:
    """`$0.28/generation`, or `price not listed`."""
    if model.price is None:
        return "price not listed"
    return f"${model.price:g}/{model.price_unit or 'request'}"


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


@dataclass(frozen=True)
class ModelTakes:
    """What a model makes video from, and its frame parameters (from its schema when it
    could be read, else from its catalog categories, with no frames)."""

    sources: list[str]
    frames: list[str]
    last_frame: str | None = None


_READ: weakref.WeakKeyDictionary[AtlasClient, dict[str, ModelTakes]] = weakref.WeakKeyDictionary()
"""What each client's schemas said, by model id (the client keeps a schema once read,
so this never goes stale): a listing reads and analyses each schema once."""


async def model_takes(client: AtlasClient, models: list[ModelInfo]) -> dict[str, ModelTakes]:
    """`ModelTakes` of each model, schemas read a few at a time, within a time limit."""
    read = _READ.setdefault(client, {})
    found = {m.id: read.get(m.id) or ModelTakes(_sources(m), []) for m in models}
    missing = [m for m in models[:DESCRIBED_SCHEMAS] if m.schema_url and m.id not in read]
    if not missing:
        return found
    limiter = anyio.CapacityLimiter(8)

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

    with anyio.move_on_after(DESCRIBE_SECONDS):
        async with anyio.create_task_group() as group:
            for model in missing:
                group.start_soon(fetch, model)
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
        f"{m.id} ({price_text(m)}; last frame `{takes[m.id].last_frame}`)"
        for m in found[:SUGGESTED]
    )
    return f" Models that take one: {named}."
