"""The composition root: the CLI, the single-node process, the demo and the local stack.

Imports everything; nothing imports it.
"""
