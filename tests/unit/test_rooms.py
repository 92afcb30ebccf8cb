"""Each room's front door (`__init__`) names what it offers, and offers only what exists;
the import contracts in pyproject.toml (`lint-imports`) keep other modules to them."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import pytest

ROOMS = ["atlas", "files", "jobs", "generation", "server", "simulator"]
PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"


@pytest.mark.parametrize("room", ROOMS)
def test_each_room_names_what_it_offers_and_every_name_is_there(room: str) -> None:
    door = importlib.import_module(f"atlas_mcp_py.{room}")
    offered = door.__all__
    assert offered and len(set(offered)) == len(offered)
    for name in offered:
        assert getattr(door, name) is not None, name
        assert not name.startswith("_"), name


@pytest.mark.parametrize("room", ROOMS)
def test_a_contract_keeps_other_modules_to_each_front_door(room: str) -> None:
    contracts = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    doors = {
        c["allowed_importers"][0]: c["protected_modules"]
        for c in contracts
        if c["type"] == "protected" and c["id"].startswith("front-door-")
    }
    assert doors[f"atlas_mcp_py.{room}"] == [f"atlas_mcp_py.{room}.*"]
