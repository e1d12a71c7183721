"""The query layer: every SQL statement the running platform issues, one module per domain."""
