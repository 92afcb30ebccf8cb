"""Finding a job whose id was lost, in Atlas's generation history.

When a generate POST may have reached Atlas but no prediction id came back, the job (if
it exists) shows up in `/api/v1/model/history`: same model, created at about the time
of the request, with the request body that was sent. Jobs the ledger already holds are
someone else's, never this one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from atlas_mcp_py.atlas.client import AtlasClient
from atlas_mcp_py.atlas.models import HistoryItem, Prediction

__all__ = [
    "HISTORY_PAGES",
    "HISTORY_PAGE_SIZE",
    "HISTORY_SLACK_SECONDS",
    "find_in_history",
    "history_prediction",
    "same_body",
]

HISTORY_SLACK_SECONDS = 120.0
"""How far before the submission a history row may be dated (clocks differ)."""
HISTORY_PAGE_SIZE = 50
HISTORY_PAGES = 2


def same_body(recorded: Mapping[str, Any], model: str, sent: Mapping[str, Any]) -> bool:
    """Does a history row's request body hold every parameter that was sent?"""
    flat = dict(recorded)
    nested = flat.pop("input", None)
    if isinstance(nested, dict):
        flat = {**nested, **flat}
    if flat.pop("model", model) != model:
        return False
    return all(flat.get(name) == value for name, value in sent.items())


def history_prediction(item: HistoryItem) -> Prediction:
    if item.result is not None:
        return item.result
    return Prediction(id=item.id, model=item.model, status=item.status or "processing")


async def find_in_history(
    client: AtlasClient,
    *,
    model: str,
    body: Mapping[str, Any],
    since: float,
    known: Callable[[list[str]], Awaitable[set[str]]],
) -> tuple[HistoryItem | None, list[HistoryItem]]:
    """The history row of a request sent at about `since` (unix s), and the candidates.

    Candidates are this model's jobs created since then that the ledger does not already
    hold. A candidate matches when its request body holds every sent parameter; when
    Atlas shows no request bodies, a single candidate matches on model and time alone.
    """
    candidates: list[HistoryItem] = []
    for page in range(1, HISTORY_PAGES + 1):
        items = await client.history(model=model, page=page, size=HISTORY_PAGE_SIZE)
        for item in items:
            if item.model not in (None, model):
                continue
            if item.created_at is not None and item.created_at < since - HISTORY_SLACK_SECONDS:
                continue
            candidates.append(item)
        oldest = items[-1].created_at if items else None
        if len(items) < HISTORY_PAGE_SIZE or (
            oldest is not None and oldest < since - HISTORY_SLACK_SECONDS
        ):
            break
    taken = await known([item.id for item in candidates])
    candidates = [item for item in candidates if item.id not in taken]
    matching = [
        item
        for item in candidates
        if item.request_body is not None and same_body(item.request_body, model, body)
    ]
    if matching:
        return min(matching, key=lambda i: abs((i.created_at or since) - since)), candidates
    bodiless = [item for item in candidates if item.request_body is None]
    if len(bodiless) == 1 and len(candidates) == 1:
        return bodiless[0], candidates
    return None, candidates
