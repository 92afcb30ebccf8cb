"""Parsing every wire variant of atlas-api.md."""

from __future__ import annotations

import json
from typing import Any

import pytest

from atlas_mcp_py.atlas.models import (
    error_message,
    normalise_status,
    parse_history,
    parse_models,
    parse_prediction,
    parse_upload,
    unwrap,
)
from atlas_mcp_py.errors import APIResponseError

PREDICTION: dict[str, Any] = {
    "id": "pred-1",
    "model": "minimax/hailuo-02/fast",
    "status": "completed",
    "outputs": ["https://cdn.example/v.mp4"],
    "error": None,
    "created_at": "2025-01-01T00:00:00Z",
    "completed_at": "2025-01-01T00:00:45Z",
    "metrics": {"predict_time": 45.2},
    "has_nsfw_contents": [False],
}


@pytest.mark.parametrize(
    "raw", ["created", "starting", "queued", "processing", "Processing", " QUEUED "]
)
def test_running_status_names_normalise_to_processing(raw: str) -> None:
    assert normalise_status(raw) == "processing"


@pytest.mark.parametrize("raw", ["completed", "succeeded", "SUCCEEDED"])
def test_success_status_names_normalise_to_completed(raw: str) -> None:
    assert normalise_status(raw) == "completed"


@pytest.mark.parametrize("raw", ["failed", "canceled", "cancelled", "timeout", "error"])
def test_failure_status_names_normalise_to_failed(raw: str) -> None:
    assert normalise_status(raw) == "failed"


@pytest.mark.parametrize("raw", ["warming-up", "", None])
def test_unknown_or_missing_status_means_still_processing(raw: str | None) -> None:
    assert normalise_status(raw) == "processing"


def test_unwrap_takes_data_from_the_envelope_and_keeps_a_bare_body() -> None:
    assert unwrap({"code": 200, "data": {"id": "x"}}) == {"id": "x"}
    assert unwrap({"id": "x"}) == {"id": "x"}
    assert unwrap([1, 2]) == [1, 2]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"code": 400, "message": "bad duration", "msg": "ignored"}, "bad duration"),
        ({"code": 400, "msg": "unknown model"}, "unknown model"),
        ({"error": "no access"}, "no access"),
        ({"error": {"message": "nested"}}, "nested"),
        ({"message": "   ", "msg": "blank message skipped"}, "blank message skipped"),
        ({"code": 500}, "fallback"),
        (None, "fallback"),
        ("<html>oops</html>", "fallback"),
    ],
)
def test_error_message_prefers_message_then_msg_then_error(body: Any, expected: str) -> None:
    assert error_message(body, "fallback") == expected


def test_prediction_parses_inside_the_data_envelope() -> None:
    prediction = parse_prediction({"code": 200, "message": "ok", "data": PREDICTION})
    assert prediction.id == "pred-1"
    assert prediction.model == "minimax/hailuo-02/fast"
    assert prediction.state == "completed"
    assert prediction.outputs == ["https://cdn.example/v.mp4"]
    assert prediction.predict_time == pytest.approx(45.2)
    assert prediction.has_nsfw_contents is False
    assert prediction.error is None


def test_prediction_parses_without_an_envelope() -> None:
    assert parse_prediction(PREDICTION) == parse_prediction({"code": 200, "data": PREDICTION})


def test_prediction_outputs_as_url_objects_become_urls() -> None:
    body = {"data": {**PREDICTION, "outputs": [{"url": "https://a/1.mp4"}, {"url": "https://a/2"}]}}
    assert parse_prediction(body).outputs == ["https://a/1.mp4", "https://a/2"]


def test_prediction_outputs_null_while_running_is_an_empty_list() -> None:
    body = {"data": {"id": "p", "status": "processing", "outputs": None}}
    prediction = parse_prediction(body)
    assert prediction.outputs == []
    assert prediction.state == "processing"


def test_prediction_outputs_skip_entries_without_a_url() -> None:
    body = {"data": {"id": "p", "status": "completed", "outputs": ["", {"x": 1}, 3, "https://a"]}}
    assert parse_prediction(body).outputs == ["https://a"]


def test_prediction_keeps_the_raw_status_name_and_normalises_state() -> None:
    prediction = parse_prediction({"data": {"id": "p", "status": "succeeded"}})
    assert prediction.status == "succeeded"
    assert prediction.state == "completed"


def test_failed_prediction_carries_error_and_error_code() -> None:
    body = {
        "data": {"id": "p", "status": "failed", "error": "moderation", "error_code": 1301},
    }
    prediction = parse_prediction(body)
    assert prediction.state == "failed"
    assert prediction.error == "moderation"
    assert prediction.error_code == "1301"


def test_failed_prediction_as_http_500_body_without_id_takes_the_asked_id_and_message() -> None:
    body = {
        "code": 500,
        "message": "Generation failed: GPU fell over",
        "data": {"status": "failed"},
    }
    prediction = parse_prediction(body, prediction_id="pred-9")
    assert prediction.id == "pred-9"
    assert prediction.state == "failed"
    assert prediction.error == "Generation failed: GPU fell over"


def test_failed_prediction_in_a_success_envelope_does_not_take_the_ok_message() -> None:
    body = {"code": 200, "message": "success", "data": {"id": "p", "status": "failed"}}
    assert parse_prediction(body).error is None


def test_prediction_error_given_as_an_object_becomes_its_message() -> None:
    body = {"data": {"id": "p", "status": "failed", "error": {"message": "too long"}}}
    assert parse_prediction(body).error == "too long"


def test_prediction_without_any_id_is_an_unreadable_answer() -> None:
    with pytest.raises(APIResponseError, match="no prediction id"):
        parse_prediction({"code": 200, "data": {"status": "created"}})


@pytest.mark.parametrize("body", [None, "text", [PREDICTION], {"data": None}])
def test_prediction_body_that_is_not_an_object_is_an_unreadable_answer(body: Any) -> None:
    with pytest.raises(APIResponseError):
        parse_prediction(body)


def test_execution_time_of_undocumented_unit_is_not_taken_as_predict_seconds() -> None:
    running = {"id": "p", "status": "processing", "executionTime": 250, "metrics": {}}
    assert parse_prediction({"data": running}).predict_time is None
    done = {**running, "status": "completed", "metrics": {"predict_time": 0.0}}
    assert parse_prediction({"data": done}).predict_time == 0.0


CATALOG: dict[str, Any] = {
    "code": 200,
    "msg": "ok",
    "data": [
        {
            "model": "minimax/hailuo-02/fast",
            "type": "Video",
            "displayName": "Hailuo 02 Fast",
            "profile": "Fast video",
            "tags": ["video", "fast"],
            "price": {
                "actual": {"base_price": "0.1", "unit": "generation"},
                "origin": {"base_price": "0.2", "unit": "generation"},
                "discount": "50%",
            },
            "schema": "https://schemas.example/hailuo.json",
            "readme": "https://docs.example/hailuo.md",
            "display_console": True,
        },
        {
            "model": "secret/model",
            "type": "Video",
            "displayName": "Hidden",
            "display_console": False,
        },
        {
            "model": "per/second",
            "type": "Audio",
            "price": {"actual": {"base_price": 0.02, "unit": "second"}},
        },
        {"model": "no/price", "type": "Image"},
        {"displayName": "no id: skipped"},
        "not an object: skipped",
    ],
}


def test_catalog_parses_price_unit_and_urls() -> None:
    models = {m.id: m for m in parse_models(CATALOG)}
    hailuo = models["minimax/hailuo-02/fast"]
    assert hailuo.name == "Hailuo 02 Fast"
    assert hailuo.type == "video"
    assert hailuo.price == pytest.approx(0.1)
    assert hailuo.price_unit == "generation"
    assert hailuo.description == "Fast video"
    assert hailuo.tags == ("video", "fast")
    assert hailuo.schema_url == "https://schemas.example/hailuo.json"
    assert hailuo.readme_url == "https://docs.example/hailuo.md"
    assert not hailuo.hidden
    assert models["per/second"].price == pytest.approx(0.02)
    assert models["per/second"].price_unit == "second"
    assert models["per/second"].type == "audio"
    assert models["no/price"].price is None
    assert models["no/price"].name == "no/price"


def test_catalog_marks_display_console_false_as_hidden_and_skips_entries_without_id() -> None:
    models = parse_models(CATALOG)
    assert [m.id for m in models if m.hidden] == ["secret/model"]
    assert len(models) == 4


def test_catalog_parses_without_an_envelope() -> None:
    assert parse_models(CATALOG["data"]) == parse_models(CATALOG)


def test_catalog_that_is_not_a_list_is_an_unreadable_answer() -> None:
    with pytest.raises(APIResponseError):
        parse_models({"code": 200, "data": "maintenance"})


def test_upload_answer_parses_download_url_and_size() -> None:
    body = {
        "code": 200,
        "data": {
            "download_url": "https://files.example/a.png",
            "filename": "a.png",
            "size": 1234,
            "type": "image",
        },
    }
    upload = parse_upload(body)
    assert upload.url == "https://files.example/a.png"
    assert upload.filename == "a.png"
    assert upload.size == 1234
    assert upload.type == "image"


def test_upload_answer_accepts_file_name_content_type_and_numeric_string_size() -> None:
    body = {
        "download_url": "https://f/b.mp4",
        "file_name": "b.mp4",
        "content_type": "video/mp4",
        "size": "99",
    }
    upload = parse_upload(body)
    assert (upload.filename, upload.content_type, upload.size) == ("b.mp4", "video/mp4", 99)


def test_upload_answer_without_a_url_is_an_unreadable_answer() -> None:
    with pytest.raises(APIResponseError, match="download URL"):
        parse_upload({"code": 200, "data": {"filename": "a.png"}})


def test_history_parses_request_body_given_as_a_json_string() -> None:
    body = {
        "code": 200,
        "data": {
            "items": [
                {
                    "ID": "pred-7",
                    "createdAt": 1735689600,
                    "model": "minimax/hailuo-02/fast",
                    "status": "processing",
                    "requestBody": json.dumps(
                        {"model": "minimax/hailuo-02/fast", "prompt": "a cat"}
                    ),
                    "result": {"status": "processing", "outputs": None},
                },
                {"ID": "pred-8", "requestBody": {"prompt": "a dog"}, "result": None},
                {"ID": "pred-9", "requestBody": "not json {", "result": "not json"},
                {"status": "no id: skipped"},
            ],
            "pageNo": 1,
            "pageSize": 20,
            "total": 3,
        },
    }
    rows = parse_history(body)
    assert [r.id for r in rows] == ["pred-7", "pred-8", "pred-9"]
    first = rows[0]
    assert first.request_body == {"model": "minimax/hailuo-02/fast", "prompt": "a cat"}
    assert first.created_at == 1735689600.0
    assert first.result is not None
    assert first.result.id == "pred-7"
    assert first.result.state == "processing"
    assert rows[1].request_body == {"prompt": "a dog"}
    assert rows[1].result is None
    assert rows[2].request_body is None
    assert rows[2].result is None


def test_history_result_given_as_a_json_string_is_parsed() -> None:
    result = json.dumps({"status": "completed", "outputs": [{"url": "https://a/v.mp4"}]})
    rows = parse_history({"data": {"items": [{"ID": "p", "result": result}]}})
    assert rows[0].result is not None
    assert rows[0].result.outputs == ["https://a/v.mp4"]


def test_history_empty_page_with_null_items_is_an_empty_list() -> None:
    assert parse_history({"code": 200, "data": {"items": None, "total": 0}}) == []


def test_history_without_items_is_an_unreadable_answer() -> None:
    with pytest.raises(APIResponseError):
        parse_history({"code": 200, "data": {"rows": []}})
