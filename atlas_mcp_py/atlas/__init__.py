"""The Atlas Cloud API: wire shapes, HTTP, retries, the catalog. Knows no MCP."""
