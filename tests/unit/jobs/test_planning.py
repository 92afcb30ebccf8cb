"""`planning.make_plan` against a fake Atlas whose catalog and schemas are shaped like the
real ones (OpenAPI documents on another host, `Input` as a `$ref`, `$ref` properties,
hidden fields, `x-accept`, a model with only a request-body schema): which model a
request goes to, how `image` / `end_image` land on each model's own parameters, and
what is refused before anything is sent."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest

from atlas_mcp_py.atlas.client import AtlasClient
from atlas_mcp_py.config import Settings
from atlas_mcp_py.errors import Refused
from atlas_mcp_py.jobs.plan import GenerateArgs, Plan, make_plan

pytestmark = pytest.mark.anyio

BASE = "https://atlas.test"
STATIC = "https://static.test/model/schema"
HAILUO = "minimax/hailuo-02/fast"
T2V = "minimax/hailuo-02/t2v-standard"
URL_NAMED = "example/i2v-url-named"
"""A schema that names its frames `image_url`/`end_image_url` (as Atlas's skills docs
describe Kling v3.0; the real Kling v3.0 takes `image`/`end_image`): the live schema decides."""
MULTI = "kwaivgi/kling-v1.6-multi-i2v-pro"
MOTION = "kwaivgi/kling-v2.6-pro/motion-control"
BROKEN = "broken/schema-down"

PROMPT = {"type": "string", "description": "Generate a description of the video."}


def entry(model: str, price: float, unit: str, category: str) -> dict[str, Any]:
    return {
        "model": model,
        "type": "Video",
        "displayName": model,
        "categories": [category],
        "price": {"actual": {"base_price": str(price), "unit": unit}},
        "schema": f"{STATIC}/{model.replace('/', '_')}.json",
    }


CATALOG = [
    entry(HAILUO, 0.1, "generation", "IMAGE-TO-VIDEO"),
    entry("minimax/hailuo-02/t2v-pro", 0.49, "generation", "TEXT-TO-VIDEO"),
    entry(T2V, 0.28, "generation", "TEXT-TO-VIDEO"),
    entry("bytedance/seedance-v1-pro-t2v-480p", 0.02, "second", "TEXT-TO-VIDEO"),
    entry(URL_NAMED, 0.07, "second", "IMAGE-TO-VIDEO"),
    entry(MULTI, 0.45, "generation", "IMAGE-TO-VIDEO"),
    entry(MOTION, 0.1, "second", "VIDEO-TO-VIDEO"),
    entry(BROKEN, 0.2, "generation", "TEXT-TO-VIDEO"),
]

SCHEMAS: dict[str, Any] = {
    HAILUO: {
        "openapi": "3.1.0",
        "components": {
            "schemas": {
                "Input": {"$ref": "#/components/schemas/HailuoInput"},
                "HailuoInput": {
                    "type": "object",
                    "required": ["image"],
                    "x-order-properties": ["image", "prompt", "duration"],
                    "properties": {
                        "model": {"type": "string"},
                        "image": {
                            "type": "string",
                            # a sample the ComfyUI node shows: never sent in the caller's place
                            "default": "https://static.test/media/sample.jpeg",
                            "description": "The picture passed in as the first frame: base64 "
                            "data URL or URL. Format is JPG/JPEG/PNG; aspect 2:5 to 5:2.",
                        },
                        "prompt": {"$ref": "#/components/schemas/Prompt"},
                        "duration": {"$ref": "#/components/schemas/Duration"},
                        "enable_prompt_expansion": {"type": "boolean", "default": False},
                        "go_fast": {"type": "boolean", "default": True},
                        "enable_safety_checker": {"type": "boolean", "hidden": True},
                    },
                },
                "Prompt": PROMPT,
                "Duration": {"type": "integer", "enum": [6, 10], "default": 6},
            }
        },
    },
    T2V: {
        "components": {
            "schemas": {
                "Input": {
                    "type": "object",
                    "required": ["prompt"],
                    "properties": {
                        "prompt": PROMPT,
                        "duration": {"type": "integer", "enum": [6, 10], "default": 6},
                    },
                }
            }
        }
    },
    URL_NAMED: {  # no Input: the request body schema
        "paths": {
            "/api/v1/model/generateVideo": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["image_url", "prompt"],
                                    "properties": {
                                        "prompt": PROMPT,
                                        "image_url": {
                                            "type": "string",
                                            "description": "Start image URL (http/https).",
                                            "x-accept": "image/jpeg,image/png,image/webp",
                                        },
                                        "end_image_url": {
                                            "type": "string",
                                            "description": "Optional end image URL.",
                                        },
                                        "duration": {"type": "integer", "enum": [5, 10]},
                                    },
                                }
                            }
                        }
                    }
                }
            }
        }
    },
    MULTI: {
        "components": {
            "schemas": {
                "Input": {
                    "type": "object",
                    "required": ["images", "prompt"],
                    "properties": {
                        "prompt": PROMPT,
                        "images": {"type": "array", "items": {"type": "string"}},
                    },
                }
            }
        }
    },
    MOTION: {
        "components": {
            "schemas": {
                "Input": {
                    "type": "object",
                    "required": ["image", "video", "prompt"],
                    "properties": {
                        "prompt": PROMPT,
                        "image": {"type": "string", "description": "Start image URL/base64"},
                        "video": {"type": "string", "x-accept": "video/mp4,video/quicktime"},
                    },
                }
            }
        }
    },
}


class Fake:
    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        url = str(request.url)
        if url == f"{BASE}/api/v1/models":
            return httpx2.Response(200, json={"code": 200, "data": CATALOG})
        for model, document in SCHEMAS.items():
            if url == f"{STATIC}/{model.replace('/', '_')}.json":
                return httpx2.Response(200, json=document)
        return httpx2.Response(500, json={"code": 500, "msg": "down"})


@asynccontextmanager
async def planner(**env: str) -> AsyncIterator[tuple[Fake, Any]]:
    fake = Fake()
    settings = Settings.from_env(
        {"ATLASCLOUD_API_KEY": "k", "ATLASCLOUD_BASE_URL": BASE, **env}, max_retries=0
    )
    async with AtlasClient(settings, transport=httpx2.MockTransport(fake.handle)) as client:

        async def plan(model: str | None = None, prompt: str = "a paper boat", **kw: Any) -> Plan:
            return await make_plan(client, GenerateArgs(model, prompt, **kw), settings)

        yield fake, plan


async def test_a_prompt_alone_goes_to_the_text_to_video_model_and_says_so() -> None:
    async with planner() as (_, plan):
        planned = await plan()
    assert planned.model.id == T2V
    assert planned.body == {"prompt": "a paper boat"}
    assert planned.estimated_cost_usd == pytest.approx(0.28)
    assert any("ATLAS_MCP_TEXT_MODEL" in note and T2V in note for note in planned.notes)


async def test_the_text_model_is_configurable() -> None:
    async with planner(ATLAS_MCP_TEXT_MODEL="minimax/hailuo-02/t2v-pro") as (_, plan):
        planned = await plan()
    assert planned.model.id == "minimax/hailuo-02/t2v-pro"


async def test_a_frame_without_a_model_goes_to_the_image_model_as_its_image_only() -> None:
    async with planner() as (_, plan):
        planned = await plan(image="https://cdn.test/boat.png")
    assert planned.model.id == HAILUO
    assert planned.body == {"prompt": "a paper boat", "image": "https://cdn.test/boat.png"}
    assert "resolution" not in planned.request and "end_image" not in planned.request
    assert planned.checked


async def test_an_image_model_named_without_a_frame_is_refused_naming_text_models() -> None:
    async with planner() as (fake, plan):
        with pytest.raises(Refused) as refused:
            await plan(HAILUO)
    message = refused.value.message
    assert "`image`" in message and "required" in message and "Nothing was sent" in message
    # cheapest first (per second counted as 5 s), with prices; the sample image not used
    assert message.index("seedance-v1-pro-t2v-480p ($0.02/second)") < message.index(
        f"{T2V} ($0.28/generation)"
    )
    assert message.index(f"{T2V} ($0.28/generation)") < message.index("t2v-pro ($0.49")
    assert "sample.jpeg" not in message
    assert all(r.method == "GET" for r in fake.requests)


async def test_end_image_for_a_model_without_a_last_frame_is_refused() -> None:
    async with planner() as (_, plan):
        with pytest.raises(Refused, match=r"takes no last frame \(its frame parameters: `image`\)"):
            await plan(HAILUO, image="https://cdn.test/a.png", end_image="https://cdn.test/b.png")


async def test_a_parameter_the_model_lacks_is_refused_with_the_accepted_list() -> None:
    async with planner() as (_, plan):
        with pytest.raises(Refused) as refused:
            await plan(HAILUO, image="https://cdn.test/a.png", resolution="512P")
    message = refused.value.message
    assert "unknown parameter 'resolution'" in message
    assert "Accepted parameters: image, prompt, duration" in message


async def test_an_enum_miss_is_refused_naming_the_allowed_values() -> None:
    async with planner() as (_, plan):
        with pytest.raises(Refused, match="'duration' must be one of 6, 10, got 7"):
            await plan(HAILUO, image="https://cdn.test/a.png", duration=7)


async def test_a_hidden_field_is_never_offered_and_refused_when_passed() -> None:
    async with planner() as (_, plan):
        planned = await plan(HAILUO, image="https://cdn.test/a.png")
        with pytest.raises(Refused) as refused:
            await plan(
                HAILUO, image="https://cdn.test/a.png", params={"enable_safety_checker": False}
            )
    assert "enable_safety_checker" not in planned.defaults
    assert "'enable_safety_checker' is set by Atlas itself" in refused.value.message
    assert "Accepted parameters: image, prompt" in refused.value.message


@pytest.mark.parametrize(
    "frame",
    ["https://cdn.test/frame.webp", "data:image/webp;base64,UklGRg=="],
    ids=["url", "data_url"],
)
async def test_a_webp_frame_is_refused_for_a_model_taking_jpg_and_png(frame: str) -> None:
    async with planner() as (_, plan):
        with pytest.raises(Refused, match="`image` takes JPG, PNG only, not WEBP"):
            await plan(image=frame)


async def test_frames_go_under_a_schemas_own_url_names_from_its_request_body_schema() -> None:
    async with planner() as (_, plan):
        planned = await plan(
            URL_NAMED,
            image="https://cdn.test/a.webp",
            end_image="https://cdn.test/b.png",
            duration=5,
        )
    assert planned.body == {
        "prompt": "a paper boat",
        "image_url": "https://cdn.test/a.webp",
        "end_image_url": "https://cdn.test/b.png",
        "duration": 5,
    }
    assert planned.estimated_cost_usd == pytest.approx(0.35)


async def test_a_frame_given_twice_is_refused() -> None:
    async with planner() as (_, plan):
        with pytest.raises(Refused, match="given twice"):
            await plan(URL_NAMED, image="https://a/x.png", params={"image_url": "https://a/y.png"})


async def test_an_images_list_model_gets_the_image_as_a_one_item_list() -> None:
    async with planner() as (_, plan):
        planned = await plan(MULTI, image="photo.png")
        with pytest.raises(Refused, match="takes no last frame"):
            await plan(MULTI, image="photo.png", end_image="b.png")
    assert planned.body["images"] == ["photo.png"]
    assert planned.local == {"images[0]": "photo.png"}


async def test_local_files_in_params_media_are_uploaded_too() -> None:
    async with planner() as (_, plan):
        planned = await plan(MOTION, image="me.png", params={"video": "dance.mp4"})
    assert planned.local == {"image": "me.png", "video": "dance.mp4"}
    assert planned.param_of("video").kind == "video"
    assert planned.param_of("video").formats == ("mp4", "mov")


async def test_an_unreadable_schema_says_the_arguments_were_not_checked() -> None:
    async with planner() as (_, plan):
        planned = await plan(
            BROKEN, image="shot.png", end_image="https://a/b.png", params={"audio": "a.mp3"}
        )
    assert not planned.checked
    assert planned.body["image"] == "shot.png"
    assert planned.local == {"image": "shot.png", "audio": "a.mp3"}
    text = " ".join(planned.notes)
    assert "not checked" in text and "validated" not in text


async def test_a_pattern_that_cannot_run_in_bounded_time_is_reported_unchecked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 21, item 4: the call goes on, and says Atlas judges that parameter."""
    model = "vendor/patterned-t2v"
    prop = {"type": "string", "pattern": r"^(\w+)\s\1$"}  # a backreference: not RE2
    schema = {"type": "object", "properties": {"prompt": PROMPT, "code": prop}}
    document = {"openapi": "3.1.0", "components": {"schemas": {"Input": schema}}}
    monkeypatch.setattr(
        sys.modules[__name__], "CATALOG", [*CATALOG, entry(model, 0.1, "generation", "X")]
    )
    monkeypatch.setitem(SCHEMAS, model, document)
    async with planner() as (_, plan):
        planned = await plan(model, params={"code": "abc abd"})
    assert planned.checked and planned.body["code"] == "abc abd"
    assert any("Not checked here" in n and "code" in n and "Atlas" in n for n in planned.notes)
