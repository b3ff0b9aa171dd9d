"""Edges of the processor: the object store and the processor's own state in it."""
