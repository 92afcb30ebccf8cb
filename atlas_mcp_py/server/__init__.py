"""MCP only: the server, its tools, results, transports (stdio, HTTP)."""
