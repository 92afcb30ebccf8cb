"""A local simulator of the Atlas Cloud media API, for tests and the no-key demo.

It serves every endpoint of docs `atlas-api.md` over real HTTP with the same shapes, status
codes and quirks, plus `/_sim/...` control endpoints, and scripts faults on demand. It imports
nothing from the rest of `atlas_mcp_py`.

    state = SimulatorState(job_seconds=0.5)
    with SimulatorServer(state) as sim:
        state.add_fault(Fault(endpoint="prediction", kind="rate_limit", retry_after="1"))
        ...  # point a client at sim.base_url with SIMULATOR_API_KEY
"""

from .app import create_app
from .catalog import ModelSpec
from .server import SimulatorServer, run_simulator
from .state import (
    SIMULATOR_API_KEY,
    Fault,
    PredictionRecord,
    RequestRecord,
    SimulatorState,
    UploadRecord,
)

__all__ = [
    "SIMULATOR_API_KEY",
    "Fault",
    "ModelSpec",
    "PredictionRecord",
    "RequestRecord",
    "SimulatorServer",
    "SimulatorState",
    "UploadRecord",
    "create_app",
    "run_simulator",
]
