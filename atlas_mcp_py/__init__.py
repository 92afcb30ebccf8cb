"""atlas-mcp-py: an MCP server that makes videos through the Atlas Cloud API."""

__version__ = "0.1.0"

__all__ = ["__version__"]
