"""``clearcut submit`` and ``clearcut fetch``: the reference client.

Exit codes: 0 every image completed (and was saved, with ``--out``); 1 an image failed or the
pipeline could not be reached; 2 bad arguments or inputs (nothing uploaded); 3 nothing failed
but an image was still processing when the client stopped waiting (``--timeout``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from services.client.fetching import FetchOptions, fetch_results
from services.client.inputs import expand_inputs
from services.client.naming import (
    FETCH_PATTERN,
    SUBMIT_PATTERN,
    NamingError,
    check_pattern,
    collisions,
    existing,
    render,
    uses_id,
)
from services.client.outcome import Tracked
from services.client.session import ClientError, Submission, SubmitOptions

console = Console(soft_wrap=True, highlight=False)
EXIT_FAILED, EXIT_USAGE, EXIT_PENDING = 1, 2, 3
STATUS_STYLE = {
    "uploading": "dim",
    "queued": "cyan",
    "processing": "yellow",
    "completed": "green",
    "failed": "red",
}
SUBMIT_FIELDS = ("stem", "ext", "name", "parent", "id", "format")
FETCH_FIELDS = ("id", "kind", "format")

ApiOption = Annotated[
    str | None,
    typer.Option("--api", envvar="CLEARCUT_API_URL", help="Upload API base URL.", metavar="URL"),
]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        envvar="CLEARCUT_API_KEY",
        help="API key (default: the development key).",
        metavar="KEY",
    ),
]
OverwriteOption = Annotated[
    bool, typer.Option("--overwrite", help="Replace result files that already exist.")
]


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


def _positive(value: float) -> float:
    if not value > 0:
        raise typer.BadParameter(f"must be more than 0 seconds, not {value:g}")
    return value


def _pattern(allowed: tuple[str, ...]) -> Callable[[str], str]:
    def check(value: str) -> str:
        try:
            check_pattern(value, allowed=allowed)
        except NamingError as exc:
            raise typer.BadParameter(str(exc)) from None
        return value

    return check


def submit(
    photos: Annotated[
        list[Path], typer.Argument(help="Image files, or folders of images.", metavar="PHOTO")
    ],
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="Follow each image until it is done; --no-wait only uploads and prints ids.",
        ),
    ] = True,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder to save the cut-outs in. Without it results stay on the server and "
            "their URLs are printed.",
            metavar="DIR",
        ),
    ] = None,
    name: Annotated[
        str,
        typer.Option(
            "--name",
            help="File name of each result in --out; fields: {stem} {ext} {name} {parent} "
            "{id} {format}.",
            callback=_pattern(SUBMIT_FIELDS),
            metavar="PATTERN",
        ),
    ] = SUBMIT_PATTERN,
    overwrite: OverwriteOption = False,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="Model name from the registry (default model).", metavar="NAME"
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="Cut-out format: png or webp.", metavar="png|webp")
    ] = "png",
    background: Annotated[
        str | None,
        typer.Option(
            "--background",
            help="`transparent` (default) or a colour like #ffffff.",
            metavar="COLOUR",
        ),
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
    api: ApiOption = None,
    ws: Annotated[
        str | None,
        typer.Option(
            "--ws", envvar="CLEARCUT_WS_URL", help="Notifier websocket URL.", metavar="URL"
        ),
    ] = None,
    key: KeyOption = None,
    timeout: Annotated[
        float,
        typer.Option(
            help="Stop waiting after this many seconds; images not done by then keep "
            "processing and can be fetched later (exit code 3).",
            callback=_positive,
            metavar="SECONDS",
        ),
    ] = 600,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Uploads in flight at once.", metavar="N")
    ] = 4,
) -> None:
    """Upload photos, follow them live, and save the cut-outs.

    Every image is printed with its full id and status URL. Results are saved in --out as
    <file name>.cutout.<format> (photo.jpg -> photo.jpg.cutout.png), never over an existing
    file unless --overwrite is given. Exit codes: 0 all completed; 1 an image failed; 2 bad
    arguments (nothing uploaded); 3 an image was still processing at --timeout (fetch it
    later with `clearcut fetch ID --out DIR`).
    """
    if fmt not in ("png", "webp"):
        raise typer.BadParameter("choose png or webp", param_hint="--format")
    inputs = expand_inputs(photos)
    for path, why in inputs.skipped:
        console.print(f"[yellow]skipped[/]  {escape(str(path))}: {why}")
    for problem in inputs.problems:
        console.print(f"[red]error:[/] {escape(problem)}")
    if inputs.problems or not inputs.files:
        raise typer.Exit(EXIT_USAGE)
    if out is not None and wait:
        _check_targets(inputs.files, out, name, fmt, overwrite)
    if out is not None and not wait:
        console.print(
            "note: --no-wait uploads only; nothing is saved in --out now. "
            f"Fetch the results later with: clearcut fetch ID... --out {escape(str(out))}"
        )
    default_api, default_ws, default_key = _defaults()
    options = SubmitOptions(
        api_url=(api or default_api).rstrip("/"),
        ws_url=ws or default_ws,
        key=key or default_key,
        output_format=fmt,
        background=background,
        model=model,
        foreground_estimation=foreground_estimation,
        out_dir=out if wait else None,
        name_pattern=name,
        overwrite=overwrite,
        wait=wait,
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
            f: progress.add_task(_describe(Tracked(f)), total=4) for f in inputs.files
        }
        steps = {"uploading": 0, "queued": 1, "processing": 2, "completed": 4, "failed": 4}

        def on_change(tracked: Tracked) -> None:
            progress.update(
                rows[tracked.path],
                description=_describe(tracked),
                completed=steps.get(tracked.status, 0) if tracked.saved_to is None else 4,
            )

        try:
            results = asyncio.run(Submission(options, on_change).run(inputs.files))
        except ClientError as exc:
            progress.stop()
            console.print(f"[red]error:[/] {escape(str(exc))}")
            raise typer.Exit(EXIT_FAILED) from exc
    _summarise(results, options, skipped=len(inputs.skipped))


def _check_targets(files: list[Path], out: Path, pattern: str, fmt: str, overwrite: bool) -> None:
    """Refuse, before uploading anything, names that two inputs share or that exist."""
    if uses_id(pattern):
        return  # ids are unique and known only after the upload; saving never overwrites
    targets = {f: out / render(pattern, fmt=fmt, path=f) for f in files}
    clashes = collisions(targets)
    for clash in clashes:
        console.print(f"[red]error:[/] {escape(clash)}")
    if clashes:
        console.print(
            "Choose names that differ with --name, for example --name "
            "'{parent}-{name}.cutout.{format}' or '{id}.cutout.{format}'."
        )
        raise typer.Exit(EXIT_USAGE)
    there = [] if overwrite else existing(targets)
    for path in there:
        console.print(f"[red]error:[/] {escape(str(path))} exists")
    if there:
        console.print("Pass --overwrite to replace existing files, or choose another --out.")
        raise typer.Exit(EXIT_USAGE)


def _describe(tracked: Tracked) -> str:
    style = STATUS_STYLE.get(tracked.status, "")
    ident = tracked.image_id or "-" * 36
    name = tracked.path.name if len(tracked.path.name) <= 28 else tracked.path.name[:25] + "..."
    return f"{escape(name):<28} {ident} [{style}]{tracked.status:<10}[/]"


def _summarise(results: list[Tracked], options: SubmitOptions, *, skipped: int) -> None:
    api = options.api_url
    for t in results:
        where = escape(str(t.path))
        if t.image_id is None:
            continue
        status_url = f"{api}/v1/images/{t.image_id}"
        if t.saved_to:
            console.print(
                f"  saved      {where} -> {escape(str(t.saved_to))}  id {t.image_id}"
                f"  status {status_url}"
            )
        elif t.status == "completed":
            console.print(
                f"  completed  {where}  id {t.image_id}\n"
                f"             result {status_url}/result?kind=cutout  status {status_url}"
            )
        elif t.pending:
            console.print(f"  {t.status:<10} {where}  id {t.image_id}  status {status_url}")
    failed = [t for t in results if t.status == "failed"]
    for t in failed:
        ident = f" (id {t.image_id})" if t.image_id else ""
        console.print(f"[red]failed[/]     {escape(str(t.path))}{ident}: {escape(t.error or '')}")
    pending = [t for t in results if t.pending]
    done = sum(1 for t in results if t.status == "completed")
    parts = [f"{len(results)} submitted", f"{done} completed", f"{len(failed)} failed"]
    if pending:
        parts.append(f"{len(pending)} still processing")
    if skipped:
        parts.append(f"{skipped} skipped")
    console.print(", ".join(parts) + ".")
    if pending:
        ids = " ".join(t.image_id for t in pending if t.image_id)
        verb = "still processing after" if options.wait else "uploaded without waiting;"
        hint = f"{options.timeout:g} s" if options.wait else "they are processing now"
        out = f" --out {escape(str(options.out_dir))}" if options.out_dir else " --out DIR"
        console.print(f"{verb} {hint}. Fetch the results later with:")
        console.print(f"  clearcut fetch {ids}{out}")
    if failed:
        raise typer.Exit(EXIT_FAILED)
    if pending and options.wait:
        raise typer.Exit(EXIT_PENDING)


def fetch(
    image_ids: Annotated[
        list[str],
        typer.Argument(
            help="Full image ids, as `clearcut submit` prints them.", metavar="IMAGE_ID"
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Folder to save the results in.", metavar="DIR")
    ],
    kind: Annotated[
        str, typer.Option("--kind", help="cutout or mask.", metavar="cutout|mask")
    ] = "cutout",
    name: Annotated[
        str,
        typer.Option(
            "--name",
            help="File name of each result; fields: {id} {kind} {format}.",
            callback=_pattern(FETCH_FIELDS),
            metavar="PATTERN",
        ),
    ] = FETCH_PATTERN,
    overwrite: OverwriteOption = False,
    api: ApiOption = None,
    key: KeyOption = None,
) -> None:
    """Download the results of earlier uploads (for example after `submit --no-wait` or a
    `--timeout`). Saves <id>.<kind>.<format> in --out, never over an existing file unless
    --overwrite is given. Exit codes: 0 all saved; 1 an image failed or is unknown; 3 an image
    is still processing."""
    if kind not in ("cutout", "mask"):
        raise typer.BadParameter("choose cutout or mask", param_hint="--kind")
    default_api, _, default_key = _defaults()
    options = FetchOptions(
        api_url=(api or default_api).rstrip("/"),
        key=key or default_key,
        out_dir=out,
        kind=kind,
        name_pattern=name,
        overwrite=overwrite,
    )
    try:
        fetched = asyncio.run(fetch_results(list(dict.fromkeys(image_ids)), options))
    except ClientError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_FAILED) from exc
    for f in fetched:
        if f.saved_to:
            console.print(f"  saved      {f.image_id} -> {escape(str(f.saved_to))}")
        elif f.pending:
            console.print(f"  {f.status:<10} {f.image_id}: {escape(f.message)}")
        else:
            console.print(f"[red]{f.status:<10}[/] {f.image_id}: {escape(f.message)}")
    bad = sum(1 for f in fetched if f.status in ("failed", "missing"))
    pending = sum(1 for f in fetched if f.pending)
    saved = sum(1 for f in fetched if f.saved_to)
    console.print(f"{saved} saved, {pending} still processing, {bad} failed or unknown.")
    if bad:
        raise typer.Exit(EXIT_FAILED)
    if pending:
        raise typer.Exit(EXIT_PENDING)


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)
    app.command("fetch")(fetch)
