import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_frameworks import start_installs
from helpers import PNG
from installed_clients import ext_tasks, py1, real_clients, ts_sdks  # noqa: F401  (fixtures)
from services import PostgresServer, run_postgres

import atlas_mcp_py.config
from atlas_mcp_py.simulator import SimulatorServer, SimulatorState

# The server honours HTTP(S)_PROXY; the simulator is on loopback, never behind a proxy a
# CI machine may set (subprocesses inherit this too).
os.environ["NO_PROXY"] = ",".join(
    filter(None, ["127.0.0.1", "localhost", os.environ.get("NO_PROXY", "")])
)
os.environ.pop("no_proxy", None)


TESTS = Path(__file__).parent
TIERS = ("unit", "integration", "e2e")
FRAMEWORK_TESTS = "test_agent_frameworks.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier, by directory: `pytest -m unit` is the fast lane."""
    for item in items:
        try:
            tier = item.path.relative_to(TESTS).parts[0]
        except ValueError:
            continue
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
    # the agent-framework tests last: their venvs install meanwhile (pytest_collection_finish)
    items.sort(key=lambda item: item.path.name == FRAMEWORK_TESTS)


def pytest_collection_finish(session: pytest.Session) -> None:
    if any(item.path.name == FRAMEWORK_TESTS for item in session.items):
        start_installs()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def private_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own default state dir (the job ledger), never the user's."""
    state = tmp_path / "state"
    monkeypatch.setattr(atlas_mcp_py.config, "default_state_dir", lambda env=None: state)
    return state


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole session (installed if missing)."""
    with run_postgres() as server:
        yield server


LEDGER_BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=LEDGER_BACKENDS)
def ledger_location(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a test's job ledger is, once for each backend: a SQLite file, or a fresh
    database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return tmp_path / "state" / "jobs.sqlite3"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.fixture
def sim_job_seconds() -> float:
    """How long each job of `sim` runs; a test module overrides this fixture to change it."""
    return 0.6


@pytest.fixture
def sim(sim_job_seconds: float) -> Iterator[SimulatorServer]:
    """The Atlas simulator on 127.0.0.1, fresh for each test."""
    with SimulatorServer(SimulatorState(job_seconds=sim_job_seconds)) as server:
        yield server


@pytest.fixture
def slow_sim() -> Iterator[SimulatorServer]:
    """Jobs that outlast every test: each ends only by a hand-off or a cancellation."""
    with SimulatorServer(SimulatorState(job_seconds=600)) as server:
        yield server


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A project root holding photo.png."""
    root = tmp_path / "workspace"
    root.mkdir()
    (root / "photo.png").write_bytes(PNG)
    return root
