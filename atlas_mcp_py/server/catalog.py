"""atlas_list_models and atlas_upload_media."""

from __future__ import annotations

from atlas_mcp_py.atlas.models import ModelInfo


def _matches(model: ModelInfo, kind: str, query: str | None) -> bool:
    if kind != "all" and model.type != kind:
        return False
    if not query:
        return True
    haystack = " ".join((model.id, model.name, " ".join(model.tags))).lower()
    return all(word in haystack for word in query.lower().split())
