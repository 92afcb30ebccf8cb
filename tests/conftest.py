from pathlib import Path

import pytest

import atlas_mcp_py.config


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def private_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own default state dir (the job ledger), never the user's."""
    state = tmp_path / "state"
    monkeypatch.setattr(atlas_mcp_py.config, "default_state_dir", lambda env=None: state)
    return state
