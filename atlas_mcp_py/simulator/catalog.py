"""The simulator's model catalog: real Atlas model ids with their real parameter names.

The entries live in `assets/catalog.json`, built by `tools/sim_catalog/build.py` from the
parameters real models take under their wire names (as Atlas's own nodes POST them) and the
simulator's own choices (prices, job lengths, hidden fields): never edited by hand.
Each model's input is published as an OpenAPI document on the schema host, shaped as the
real ones are: `components.schemas.Input` is a `$ref` to a named schema whose properties
may themselves be `$ref`s, some properties are `hidden` or `disabled`, media properties
carry `x-accept`/`x-max-size-mb`; and one document (schema_style "request_body") has no
`Input` at all, only the request body schema under `paths`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final

JsonObject = dict[str, Any]

CATALOG_FILE: Final = Path(__file__).resolve().parent / "assets" / "catalog.json"
GENERATE_PATHS: Final[dict[str, str]] = {
    "Video": "/api/v1/model/generateVideo",
    "Image": "/api/v1/model/generateImage",
    "Audio": "/api/v1/model/generateAudio",
}
SCHEMA_PREFIX: Final = "/model/schema/"
README_PREFIX: Final = "/model/readme/"
DEFAULT_JOB_SECONDS: Final = 60.0


@dataclass(frozen=True)
class ModelSpec:
    """One catalog entry.

    `properties`/`required`/`components` are the model's input as its schema document
    publishes it (properties may be `{"$ref": "#/components/schemas/X"}`); `input_schema()`
    is the same with every local `$ref` resolved. `price` is the catalog's price object as
    served; `bill_usd` per `bill_unit` is what a request really costs.
    """

    id: str
    type: str
    display_name: str
    profile: str
    organization: str
    tags: tuple[str, ...]
    categories: tuple[str, ...]
    price: JsonObject
    bill_usd: float
    bill_unit: str
    properties: JsonObject
    required: tuple[str, ...]
    components: JsonObject = field(default_factory=dict)
    input_name: str | None = None
    schema_style: str = "ref"
    display_console: bool = True
    available: bool = True
    job_seconds: float = DEFAULT_JOB_SECONDS
    min_seconds: float = 0.0
    fixed_seconds: float | None = None
    base64_style: str = "data"
    """`enable_base64_output` answers a `data:` URL, or (`raw`) plain base64."""

    @property
    def base_price(self) -> float:
        """The price in USD of one unit (`unit`)."""
        return self.bill_usd

    @property
    def unit(self) -> str:
        return self.bill_unit

    def input_object(self) -> JsonObject:
        """The input schema as published (unresolved `$ref` properties), `model` first."""
        properties: JsonObject = {
            "model": {
                "type": "string",
                "description": "The model id.",
                "default": self.id,
                "enum": [self.id],
            },
            **self.properties,
        }
        return {
            "type": "object",
            "title": self.input_name or "Input",
            "properties": properties,
            "required": ["model", *self.required],
            "x-order-properties": list(properties),
        }

    def input_schema(self) -> JsonObject:
        """The model's input JSON Schema with every local `$ref` resolved."""
        resolved: JsonObject = resolve_refs(self.input_object(), self.components)
        return resolved

    def price_for(self, params: JsonObject) -> float:
        """The price in USD of one request with these parameters."""
        multiplier = 1.0
        if self.bill_unit == "second":
            if self.fixed_seconds is not None:
                seconds = self.fixed_seconds
            else:
                default = self.input_schema()["properties"].get("duration", {}).get("default", 5)
                seconds = _as_number(params.get("duration", default), 5.0)
            multiplier = max(seconds, self.min_seconds)
        elif self.bill_unit == "image":
            multiplier = _as_number(params.get("max_images", 1), 1.0)
        elif self.bill_unit == "1k_chars":
            text = params.get("text")
            multiplier = max(1, math.ceil(len(text) / 1000)) if isinstance(text, str) else 1
        return round(self.bill_usd * multiplier, 6)


def _as_number(value: object, fallback: float) -> float:
    if isinstance(value, bool):
        return fallback
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return fallback
    return fallback


def resolve_refs(node: Any, components: JsonObject, seen: frozenset[str] = frozenset()) -> Any:
    """`node` with each `{"$ref": "#/components/schemas/Name"}` replaced by its target."""
    if isinstance(node, list):
        return [resolve_refs(item, components, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        if name in seen or name not in components:
            raise ValueError(f"unresolvable $ref {ref}")
        return resolve_refs(components[name], components, seen | {name})
    return {key: resolve_refs(value, components, seen) for key, value in node.items()}


def _spec(entry: JsonObject) -> ModelSpec:
    sim: JsonObject = entry["simulator"]
    bill: JsonObject = sim["bill"]
    inputs: JsonObject = entry["input"]
    return ModelSpec(
        id=entry["model"],
        type=entry["type"],
        display_name=entry["displayName"],
        profile=entry["profile"],
        organization=entry["organization"],
        tags=tuple(entry["tags"]),
        categories=tuple(entry["categories"]),
        price=entry["price"],
        bill_usd=float(bill["usd"]),
        bill_unit=bill["unit"],
        properties=inputs["properties"],
        required=tuple(inputs["required"]),
        components=inputs.get("components", {}),
        input_name=inputs.get("name"),
        schema_style=sim.get("schema_style", "ref"),
        display_console=entry["display_console"],
        available=sim.get("available", True),
        job_seconds=float(sim.get("job_seconds", DEFAULT_JOB_SECONDS)),
        min_seconds=float(bill.get("min_seconds", 0)),
        fixed_seconds=bill.get("fixed_seconds"),
        base64_style=sim.get("base64", "data"),
    )


@cache
def load_catalog(path: Path = CATALOG_FILE) -> tuple[ModelSpec, ...]:
    """The catalog file's models, in order."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return tuple(_spec(entry) for entry in data["models"])


MODELS: Final[tuple[ModelSpec, ...]] = load_catalog()


def model_payload(spec: ModelSpec, static_root: str) -> JsonObject:
    """The catalog entry as `GET /api/v1/models` lists it (schema/readme on the static host)."""
    return {
        "model": spec.id,
        "type": spec.type,
        "displayName": spec.display_name,
        "profile": spec.profile,
        "tags": list(spec.tags),
        "categories": list(spec.categories),
        "organization": spec.organization,
        "price": spec.price,
        "schema": f"{static_root}{SCHEMA_PREFIX}{spec.id}.json",
        "readme": f"{static_root}{README_PREFIX}{spec.id}.md",
        "display_console": spec.display_console,
        **({"minDuration": spec.min_seconds} if spec.min_seconds > 0 else {}),
    }


def openapi_document(spec: ModelSpec) -> JsonObject:
    """The OpenAPI document served at the model's `schema` URL."""
    path = GENERATE_PATHS.get(spec.type, "/v1/chat/completions")
    components: JsonObject = dict(spec.components)
    if spec.schema_style == "request_body":
        body_schema: JsonObject = spec.input_object()
    else:
        name = spec.input_name or "ModelInput"
        components[name] = spec.input_object()
        components["Input"] = {"$ref": f"#/components/schemas/{name}"}
        body_schema = {"$ref": "#/components/schemas/Input"}
    components["Output"] = _OUTPUT_SCHEMA
    return {
        "openapi": "3.0.1",
        "info": {"title": spec.display_name, "version": "1.0.0", "description": spec.profile},
        "paths": {
            path: {
                "post": {
                    "summary": f"Run {spec.id}",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": body_schema}},
                    },
                    "responses": {
                        "200": {
                            "description": "The prediction was created.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Output"}
                                }
                            },
                        }
                    },
                }
            }
        },
        "components": {"schemas": components},
    }


def readme_markdown(spec: ModelSpec) -> str:
    """A short markdown page about the model."""
    properties = spec.input_schema()["properties"]
    params = "\n".join(
        f"- `{name}` ({prop.get('type', 'any')}): {prop.get('description', '')}".rstrip(": ")
        for name, prop in properties.items()
        if name != "model" and not prop.get("hidden") and not prop.get("disabled")
    )
    price = f"Price: ${spec.bill_usd:g} per {spec.bill_unit}."
    return f"# {spec.display_name}\n\n{spec.profile}\n\n{price}\n\n## Parameters\n\n{params}\n"


_OUTPUT_SCHEMA: Final[JsonObject] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "status": {"type": "string", "enum": ["processing", "completed", "succeeded", "failed"]},
        "model": {"type": "string"},
        "outputs": {"type": "array", "items": {"type": "string"}},
        "error": {"type": "string"},
        "metrics": {"type": "object", "properties": {"predict_time": {"type": "number"}}},
        "created_at": {"type": "string", "format": "date-time"},
        "completed_at": {"type": "string", "format": "date-time"},
    },
    "required": ["id", "status", "model", "created_at"],
}
