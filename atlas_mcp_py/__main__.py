"""`python -m atlas_mcp_py`: the same as the `atlas-mcp` command."""

import sys

from atlas_mcp_py.cli import main

sys.exit(main())
