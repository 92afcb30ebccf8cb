"""The pieces of paid-job safety that need no server: prices, fingerprints, history search."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from atlas_mcp_py.atlas.capabilities import estimate_cost
from atlas_mcp_py.atlas.client import AtlasClient
from atlas_mcp_py.atlas.history import find_in_history, same_body
from atlas_mcp_py.atlas.models import ModelInfo
from atlas_mcp_py.config import Settings
from atlas_mcp_py.jobs.plan import Plan, canonical, fingerprint

MODEL = "minimax/hailuo-02/fast"
SENT_AT = 1_700_000_000.0


def model(price: float | None, unit: str | None) -> ModelInfo:
    return ModelInfo(id=MODEL, name="m", type="video", price=price, price_unit=unit)


def test_the_estimate_is_the_catalog_price_per_job_or_per_second() -> None:
    assert estimate_cost(model(0.1, "generation"), {}) == 0.1
    assert estimate_cost(model(0.06, "second"), {"duration": 5}) == pytest.approx(0.3)
    assert estimate_cost(model(0.06, "second"), {"duration": "10"}) == pytest.approx(0.6)
    assert estimate_cost(model(0.06, "second"), {}) is None  # unknown length: no guess
    assert estimate_cost(model(None, None), {"duration": 5}) is None


def test_the_fingerprint_ignores_key_order_but_not_values_or_the_model() -> None:
    a = fingerprint(MODEL, {"prompt": "x", "duration": 6})
    assert a == fingerprint(MODEL, {"duration": 6, "prompt": "x"})
    assert a != fingerprint(MODEL, {"prompt": "x", "duration": 10})
    assert a != fingerprint("other/model", {"prompt": "x", "duration": 6})


def test_a_request_is_canonical_with_defaults_filled_and_files_by_content() -> None:
    plan = Plan(model(0.1, None), {"prompt": "x", "image": "a.png"}, {"duration": 6}, 0.1, True)
    spelled = Plan(
        model(0.1, None), {"prompt": "x", "image": "b/copy.png", "duration": 6}, {}, 0.1, True
    )
    canon, digest = canonical(plan, {"image": "ab" * 32})
    assert canon == {"prompt": "x", "image": "file:sha256:" + "ab" * 32, "duration": 6}
    assert canonical(spelled, {"image": "ab" * 32})[1] == digest
    assert canonical(spelled, {"image": "cd" * 32})[1] != digest


def test_a_history_body_matches_when_it_holds_every_sent_parameter() -> None:
    sent = {"prompt": "a cat", "duration": 6}
    assert same_body({"model": MODEL, "prompt": "a cat", "duration": 6}, MODEL, sent)
    assert same_body({"input": {"prompt": "a cat", "duration": 6}}, MODEL, sent)
    assert same_body({**sent, "seed": 4}, MODEL, sent)  # Atlas may add its defaults
    assert not same_body({"model": "other", **sent}, MODEL, sent)
    assert not same_body({"prompt": "a dog", "duration": 6}, MODEL, sent)


def history_client(items: list[dict[str, Any]]) -> AtlasClient:
    def handler(request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/api/v1/model/history"
        assert request.url.params["model"] == MODEL
        page = int(request.url.params["no"])
        size = int(request.url.params["size"])
        chunk = items[(page - 1) * size : page * size]
        return httpx2.Response(200, json={"code": 200, "data": {"items": chunk}})

    settings = Settings(api_key="k", base_url="https://atlas.test")
    return AtlasClient(settings, transport=httpx2.MockTransport(handler))


def row(pid: str, created: float, body: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "ID": pid,
        "createdAt": created,
        "model": MODEL,
        "status": "processing",
        "requestBody": json.dumps({"model": MODEL, **body}) if body is not None else None,
    }


async def no_known(ids: list[str]) -> set[str]:
    return set()


@pytest.mark.anyio
async def test_history_finds_the_job_whose_body_matches_among_others() -> None:
    sent = {"prompt": "a cat"}
    items = [
        row("newer-other", SENT_AT + 5, {"prompt": "a dog"}),
        row("mine", SENT_AT + 1, sent),
        row("old-twin", SENT_AT - 3600, sent),  # far too early to be this request
    ]
    async with history_client(items) as client:
        match, candidates = await find_in_history(
            client, model=MODEL, body=sent, since=SENT_AT, known=no_known
        )
    assert match is not None and match.id == "mine"
    assert [c.id for c in candidates] == ["newer-other", "mine"]


@pytest.mark.anyio
async def test_history_skips_jobs_the_ledger_already_holds() -> None:
    sent = {"prompt": "a cat"}

    async def known(ids: list[str]) -> set[str]:
        return {"recorded"} & set(ids)

    items = [row("recorded", SENT_AT + 2, sent), row("lost", SENT_AT + 1, sent)]
    async with history_client(items) as client:
        match, _ = await find_in_history(client, model=MODEL, body=sent, since=SENT_AT, known=known)
    assert match is not None and match.id == "lost"


@pytest.mark.anyio
async def test_without_request_bodies_only_a_single_candidate_is_taken() -> None:
    async with history_client([row("only", SENT_AT + 1, None)]) as client:
        match, _ = await find_in_history(
            client, model=MODEL, body={"prompt": "x"}, since=SENT_AT, known=no_known
        )
    assert match is not None and match.id == "only"
    two = [row("one", SENT_AT + 1, None), row("two", SENT_AT + 2, None)]
    async with history_client(two) as client:
        match, candidates = await find_in_history(
            client, model=MODEL, body={"prompt": "x"}, since=SENT_AT, known=no_known
        )
    assert match is None and {c.id for c in candidates} == {"one", "two"}
