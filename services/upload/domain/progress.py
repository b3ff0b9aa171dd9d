"""The task and image statuses and their ranking, as the contract defines them
(`schemas/progress.py`), under the names the upload service's code uses."""

from schemas.progress import IMAGE_STATUS, ImageStatus, Progress, TaskStatus, supersedes

__all__ = ["IMAGE_STATUS", "ImageStatus", "Progress", "TaskStatus", "supersedes"]
