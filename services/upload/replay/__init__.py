"""Replay: publish new ImageUploaded requests for images uploaded before, chosen by time
range, owner, ids, or a model's missing results."""
