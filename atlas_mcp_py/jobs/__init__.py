"""Paid jobs: the ledger, the plan, submit-once, the wait. Knows no MCP."""
