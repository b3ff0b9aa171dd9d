"""``python -m services.processor``: run the worker (the same as ``clearcut processor``)."""

from services.processor.worker import run

run()
