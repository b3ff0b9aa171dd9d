"""Clearcut services and the runtime they share."""
