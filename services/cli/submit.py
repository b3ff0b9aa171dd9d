"""``clearcut submit``: the reference client."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from services.client.outcome import Tracked, expand_inputs
from services.client.session import ClientError, Submission, SubmitOptions

console = Console(soft_wrap=True)
STATUS_STYLE = {
    "uploading": "dim",
    "queued": "cyan",
    "processing": "yellow",
    "completed": "green",
    "failed": "red",
}


def _defaults() -> tuple[str, str, str]:
    from services.common.auth import AuthSettings
    from services.notifier.settings import NotifierSettings
    from services.upload.settings import UploadSettings

    upload, notifier = UploadSettings(), NotifierSettings()
    return (
        f"http://{upload.host}:{upload.port}",
        f"ws://{notifier.host}:{notifier.port}/v1/ws",
        AuthSettings().dev_key.get_secret_value(),
    )


def submit(
    photos: Annotated[list[Path], typer.Argument(help="Image files, or folders of images.")],
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Follow each image until it is done.")
    ] = True,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder to download the cut-outs into.")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Model name from the registry (default model).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="Cut-out format: png or webp.")] = "png",
    background: Annotated[
        str | None,
        typer.Option("--background", help="`transparent` (default) or a colour like #ffffff."),
    ] = None,
    foreground_estimation: Annotated[
        bool | None,
        typer.Option(
            "--foreground-estimation/--no-foreground-estimation",
            help="Estimate the subject's colour in soft edges (default: the processor's "
            "setting, on unless configured otherwise).",
            show_default=False,
        ),
    ] = None,
    api: Annotated[
        str | None, typer.Option("--api", envvar="CLEARCUT_API_URL", help="Upload API base URL.")
    ] = None,
    ws: Annotated[
        str | None, typer.Option("--ws", envvar="CLEARCUT_WS_URL", help="Notifier websocket URL.")
    ] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", envvar="CLEARCUT_API_KEY", help="API key (development key default)."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Give up waiting after this many seconds.")] = 600,
    concurrency: Annotated[int, typer.Option(min=1, help="Uploads in flight at once.")] = 4,
) -> None:
    """Upload photos, follow them live, and download the cut-outs.

    Exits non-zero when any image failed, with each failed image's reason.
    """
    if fmt not in ("png", "webp"):
        raise typer.BadParameter("choose png or webp", param_hint="--format")
    files, problems = expand_inputs(photos)
    for problem in problems:
        console.print(f"[red]error:[/] {problem}", highlight=False)
    if problems or not files:
        raise typer.Exit(2)
    default_api, default_ws, default_key = _defaults()
    options = SubmitOptions(
        api_url=api or default_api,
        ws_url=ws or default_ws,
        key=key or default_key,
        output_format=fmt,
        background=background,
        model=model,
        foreground_estimation=foreground_estimation,
        out_dir=out,
        wait=wait or out is not None,
        timeout=timeout,
        concurrency=concurrency,
    )
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(bar_width=20),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        rows: dict[Path, TaskID] = {
            f: progress.add_task(_describe(Tracked(f)), total=4) for f in files
        }
        steps = {"uploading": 0, "queued": 1, "processing": 2, "completed": 4, "failed": 4}

        def on_change(tracked: Tracked) -> None:
            progress.update(
                rows[tracked.path],
                description=_describe(tracked),
                completed=steps.get(tracked.status, 0) if tracked.saved_to is None else 4,
            )

        try:
            results = asyncio.run(Submission(options, on_change).run(files))
        except ClientError as exc:
            progress.stop()
            console.print(f"[red]error:[/] {exc}", highlight=False)
            raise typer.Exit(1) from exc
    _summarise(results, options)


def _describe(tracked: Tracked) -> str:
    style = STATUS_STYLE.get(tracked.status, "")
    ident = tracked.image_id[:8] if tracked.image_id else "-" * 8
    name = tracked.path.name if len(tracked.path.name) <= 28 else tracked.path.name[:25] + "..."
    return f"{name:<28} {ident} [{style}]{tracked.status:<10}[/]"


def _summarise(results: list[Tracked], options: SubmitOptions) -> None:
    for t in results:
        if t.saved_to:
            console.print(f"  saved   {t.saved_to}  ({t.image_id})", highlight=False)
        elif t.status in ("queued", "processing") and not options.wait:
            console.print(
                f"  queued  {t.path.name} -> {options.api_url}/v1/images/{t.image_id}",
                highlight=False,
            )
    failed = [t for t in results if t.status == "failed"]
    for t in failed:
        console.print(f"[red]failed[/]  {t.path}: {t.error}", highlight=False)
    done = sum(1 for t in results if t.status == "completed")
    console.print(f"{done} completed, {len(failed)} failed, {len(results)} submitted.")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)
