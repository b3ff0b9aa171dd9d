"""A rich progress bar behind the small progress interfaces of replay and rebuild."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Bar:
    """One bar per phase; `start` opens the next phase's bar."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def start(self, description: str, total: int | None) -> None:
        self._task = self._progress.add_task(description, total=total, rate="")

    def advance(self, count: int) -> None:
        if self._task is None:
            return
        self._progress.advance(self._task, count)
        task = self._progress.tasks[self._task]
        if task.speed:
            self._progress.update(self._task, rate=f"{task.speed:,.0f}/s")

    def describe(self, description: str) -> None:
        if self._task is not None:
            self._progress.update(self._task, description=description)


class ReplayBar(Bar):
    def scanning(self, total: int) -> None:
        self.start("scanning uploads", total)

    def scanned(self, count: int) -> None:
        self.advance(count)

    def sending(self, total: int) -> None:
        self.start("sending requests", total)

    def sent(self, count: int) -> None:
        self.advance(count)


class RebuildBar(Bar):
    def started(self, total: int) -> None:
        self.start("applying events", total)

    def advanced(self, records: int) -> None:
        self.advance(records)

    def phase(self, description: str) -> None:
        self.describe(description)
