"""Fault injection against the running pipeline: ``clearcut chaos``."""
