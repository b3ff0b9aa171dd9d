"""``python -m services.processor``: the same as ``clearcut processor``; ``--help`` shows
help instead of starting a worker."""

import typer

from services.processor.main import run


def processor() -> None:
    """Run a processor worker: consume image.uploaded, write cut-outs and masks."""
    run()


typer.run(processor)
