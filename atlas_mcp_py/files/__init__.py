"""Local files: allowed roots, media sniffing, uploads, saves. Knows no MCP."""
