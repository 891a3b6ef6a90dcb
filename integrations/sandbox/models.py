"""State of the local Facebook (the sandbox owns these tables)."""
