"""Model schemas read as Atlas publishes them (`schemas`) and what a model takes (`inputs`):
`$ref`s, the request-body fallback, hidden fields, frames, media parameters, formats."""

from __future__ import annotations

from typing import Any

import pytest

from atlas_mcp_py.atlas.inputs import (
    MediaParam,
    catalog_sources,
    fill_slots,
    format_problem,
    local_slots,
    media_param,
    model_inputs,
    url_format,
)
from atlas_mcp_py.atlas.schemas import read_input_schema, resolve_refs
from atlas_mcp_py.errors import SchemaUnreadable


def openapi(input_schema: dict[str, Any], **schemas: Any) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "components": {"schemas": {"Input": input_schema, **schemas}},
    }


# -- schemas ------------------------------------------------------------------------------


def test_an_input_that_is_a_ref_with_ref_properties_is_read_whole() -> None:
    document = openapi(
        {"$ref": "#/components/schemas/HailuoInput"},
        HailuoInput={
            "type": "object",
            "required": ["image"],
            "properties": {
                "image": {"$ref": "#/components/schemas/Image", "description": "first frame"},
                "duration": {"$ref": "#/components/schemas/Duration"},
            },
        },
        Image={"type": "string", "description": "an image", "x-accept": "image/png"},
        Duration={"type": "integer", "enum": [6, 10], "default": 6},
    )
    read = read_input_schema(document)
    props = read.schema["properties"]
    assert read.schema["required"] == ["image"]
    # the sibling description wins over the target's
    assert props["image"] == {
        "type": "string",
        "description": "first frame",
        "x-accept": "image/png",
    }
    assert props["duration"] == {"type": "integer", "enum": [6, 10], "default": 6}


def test_a_reference_cycle_is_left_as_a_ref_instead_of_looping() -> None:
    document = openapi(
        {"$ref": "#/components/schemas/Node"},
        Node={
            "type": "object",
            "properties": {
                "child": {"$ref": "#/components/schemas/Node"},
                "n": {"type": "integer"},
            },
        },
    )
    read = read_input_schema(document)
    assert read.schema["properties"]["child"] == {"$ref": "#/components/schemas/Node"}
    assert read.schema["properties"]["n"] == {"type": "integer"}


def test_a_ref_to_nothing_or_elsewhere_is_kept_unresolved() -> None:
    node = {"a": {"$ref": "#/components/schemas/Missing"}, "b": {"$ref": "other.json#/x"}}
    assert resolve_refs(node, {"components": {}}) == node


def test_without_an_input_the_request_body_schema_is_used() -> None:
    document = {
        "openapi": "3.0.0",
        "paths": {
            "/api/v1/model/generateVideo": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Body"}}
                        }
                    }
                }
            }
        },
        "components": {
            "schemas": {"Body": {"type": "object", "properties": {"prompt": {"type": "string"}}}}
        },
    }
    assert read_input_schema(document).schema["properties"] == {"prompt": {"type": "string"}}


def test_hidden_and_disabled_fields_are_taken_out_but_remembered() -> None:
    document = openapi(
        {
            "type": "object",
            "required": ["prompt", "enable_safety_checker"],
            "x-order-properties": ["prompt", "enable_safety_checker", "seed"],
            "properties": {
                "prompt": {"type": "string"},
                "enable_safety_checker": {"type": "boolean", "hidden": True, "default": True},
                "seed": {"type": "integer", "disabled": True},
            },
        }
    )
    read = read_input_schema(document)
    assert list(read.schema["properties"]) == ["prompt"]
    assert read.schema["required"] == ["prompt"]
    assert read.schema["x-order-properties"] == ["prompt"]
    assert read.hidden == {"enable_safety_checker", "seed"}


def test_an_all_of_input_is_merged_into_one_object() -> None:
    document = openapi(
        {
            "allOf": [
                {"$ref": "#/components/schemas/Base"},
                {"type": "object", "properties": {"image": {"type": "string"}}},
            ]
        },
        Base={
            "type": "object",
            "required": ["prompt"],
            "properties": {"prompt": {"type": "string"}},
        },
    )
    read = read_input_schema(document)
    assert set(read.schema["properties"]) == {"prompt", "image"}
    assert read.schema["required"] == ["prompt"]


@pytest.mark.parametrize(
    "document",
    [
        {"openapi": "3.0.0", "components": {"schemas": {}}},
        {"openapi": "3.0.0", "components": {"schemas": {"Input": {"$ref": "#/nowhere"}}}},
        ["a", "list"],
    ],
    ids=["no_input_no_body", "dangling_ref", "not_an_object"],
)
def test_a_document_without_a_readable_input_is_refused(document: Any) -> None:
    with pytest.raises(SchemaUnreadable):
        read_input_schema(document)


# -- media parameters and frames -----------------------------------------------------------


def inputs_of(properties: dict[str, Any], required: list[str] | None = None) -> Any:
    return model_inputs({"type": "object", "properties": properties, "required": required or []})


STRING = {"type": "string"}


def test_hailuo_fast_has_one_required_first_frame_and_no_last() -> None:
    found = inputs_of(
        {
            "prompt": {"type": "string", "description": "Generate a description of the video."},
            "image": {
                "type": "string",
                "description": "The model generates video with the picture passed in as the "
                "first frame. Base64 ... or URLs. Format is JPG/JPEG/PNG; The aspect ratio ...",
            },
            "duration": {"enum": [6, 10], "default": 6},
            "go_fast": {"type": "boolean"},
        },
        ["image"],
    )
    assert (found.first_frame, found.last_frame) == ("image", None)
    assert found.needs_frame
    assert found.sources == ["image"]
    assert found.media["image"].formats == ("jpg", "png")
    assert set(found.media) == {"image"}  # the prompt speaks of video but takes text


@pytest.mark.parametrize(
    ("names", "first", "last"),
    [
        (["image_url", "end_image_url"], "image_url", "end_image_url"),
        (["image", "last_image"], "image", "last_image"),
        (["first_frame_image", "last_frame_image"], "first_frame_image", "last_frame_image"),
        (["start_image", "tail_image"], "start_image", "tail_image"),
        (["image", "end_image"], "image", "end_image"),
        (["reference_image"], "reference_image", None),
    ],
)
def test_each_family_s_frame_names_are_found(
    names: list[str], first: str, last: str | None
) -> None:
    found = inputs_of({"prompt": STRING, **{n: STRING for n in names}})
    assert (found.first_frame, found.last_frame) == (first, last)


def test_an_images_list_is_the_first_frame_only_when_it_is_the_only_image_input() -> None:
    only = inputs_of({"images": {"type": "array", "items": STRING}}, ["images"])
    assert only.first_frame == "images" and only.media["images"].many
    both = inputs_of({"image": STRING, "images": {"type": "array", "items": STRING}})
    assert both.first_frame == "image"


def test_video_and_audio_inputs_are_media_and_say_what_the_model_makes_from() -> None:
    motion = inputs_of(
        {"image": STRING, "video": {"type": "string", "description": "Reference video URL"}},
        ["image", "video"],
    )
    assert motion.media["video"].kind == "video"
    assert motion.sources == ["image", "video"]
    avatar = inputs_of({"image": STRING, "audio": STRING}, ["image", "audio"])
    assert avatar.media["audio"].kind == "audio"
    text = inputs_of({"prompt": STRING, "image": STRING})  # optional image
    assert text.sources == ["text", "image"] and not text.needs_frame


@pytest.mark.parametrize(
    ("name", "prop"),
    [
        ("image_size", {"type": "string", "enum": ["1024x1024"]}),
        ("max_images", {"type": "integer"}),
        ("generate_audio", {"type": "boolean"}),
        ("negative_prompt", {"type": "string", "description": "what the image URL must not show"}),
        ("webhook_url", {"type": "string", "description": "called with the video URL"}),
        ("aspect_ratio", {"type": "string", "description": "of the image"}),
    ],
)
def test_parameters_about_media_that_take_no_media_are_not_media(name: str, prop: Any) -> None:
    assert media_param(name, prop) is None


def test_x_accept_names_the_kind_and_formats() -> None:
    param = media_param("source", {"type": "string", "x-accept": "video/mp4,video/quicktime"})
    assert param == MediaParam("source", "video", False, ("mp4", "mov"))
    wide = media_param("ref", {"type": "string", "x-accept": "image/*"})
    assert wide is not None and wide.kind == "image" and wide.formats == ()
    by_extension = media_param("clip", {"type": "string", "x-accept": ".png, .JPEG"})
    assert by_extension is not None and by_extension.formats == ("png", "jpg")


def test_a_described_url_parameter_is_media_even_with_an_unusual_name() -> None:
    param = media_param("start", {"type": "string", "description": "Start image URL (http/https)."})
    assert param is not None and param.kind == "image"


def test_format_problems_name_what_the_parameter_takes() -> None:
    hailuo = MediaParam("image", "image", formats=("jpg", "png"))
    assert format_problem(hailuo, "image", "webp") == "`image` takes JPG, PNG only, not WEBP"
    assert format_problem(hailuo, "image", "jpeg") is None
    assert format_problem(hailuo, None, None) is None
    assert format_problem(MediaParam("video", "video"), "image", "png") == (
        "`video` takes a video, not an image"
    )
    assert format_problem(MediaParam("any", "image"), "image", "webp") is None


def test_url_formats_come_from_the_path_extension_only() -> None:
    assert url_format("https://cdn.test/a/frame.WEBP?sig=1") == "webp"
    assert url_format("https://cdn.test/a/frame.jpeg") == "jpg"
    assert url_format("https://cdn.test/a/frame") is None
    assert url_format("https://cdn.test/page.html") is None


def test_catalog_categories_and_ids_say_what_a_model_makes_video_from() -> None:
    assert catalog_sources(["TEXT-TO-VIDEO"], "x/y") == ["text"]
    assert catalog_sources([], "minimax/hailuo-02/t2v-standard") == ["text"]
    assert catalog_sources(["IMAGE-TO-VIDEO"], "kwaivgi/kling-v3.0-std/image-to-video") == ["image"]
    assert catalog_sources([], "kwaivgi/kling-v2.6-pro/motion-control") == ["video"]
    assert catalog_sources([], "minimax/hailuo-02/fast") == []


def test_local_files_are_found_in_every_slot_and_replaced_in_copies() -> None:
    body = {
        "prompt": "p",
        "image": "a.png",
        "images": ["https://x/y.png", "b.jpg"],
        "video": "v.mp4",
    }
    local = local_slots(body, ["image", "images", "video"])
    assert local == {"image": "a.png", "images[1]": "b.jpg", "video": "v.mp4"}
    filled = fill_slots(body, {"images[1]": "https://up/b.jpg", "video": "https://up/v.mp4"})
    assert filled["images"] == ["https://x/y.png", "https://up/b.jpg"]
    assert body["images"] == ["https://x/y.png", "b.jpg"]  # unchanged


def test_a_stated_size_limit_is_kept_and_judged() -> None:
    param = media_param("image", {"type": "string", "x-max-size-mb": 20})
    assert param is not None and param.max_mb == 20
    assert format_problem(param, "image", "png", 20 * 1024 * 1024) is None
    assert format_problem(param, "image", "png", 21 * 1024 * 1024) == (
        "`image` takes files up to 20 MB, not 21.0 MB"
    )


@pytest.mark.parametrize(
    ("images", "pair"),
    [
        ({"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2}, True),
        (
            {
                "type": "array",
                "items": {"type": "string"},
                "description": "start_image: Start image URL; end_image: End image URL",
            },
            True,
        ),
        ({"type": "array", "items": {"type": "string"}, "description": "1-10 image URLs"}, False),
    ],
)
def test_an_images_list_of_start_and_end_is_both_frames(images: dict[str, Any], pair: bool) -> None:
    found = model_inputs({"properties": {"images": images}, "required": ["images"]})
    assert found.first_frame == "images"
    assert found.last_frame == ("images" if pair else None)
    assert found.frames == (["images[0]", "images[1]"] if pair else ["images"])
