"""Links into the upload API that clients follow to read an image's state and results."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from schemas import ResultKind


@dataclass(frozen=True, slots=True)
class Links:
    """Builds absolute URLs under the upload API's public base URL."""

    base_url: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    def status(self, image_id: str) -> str:
        return f"{self.base_url}/v1/images/{image_id}"

    def result(self, image_id: str, kind: ResultKind | str) -> str:
        return f"{self.status(image_id)}/result?kind={ResultKind(kind).value}"

    def for_image(
        self, image_id: str, result_kinds: Iterable[ResultKind | str] = ()
    ) -> dict[str, str]:
        """``status`` plus one link per result kind (``cutout``, ``mask``)."""
        links = {"status": self.status(image_id)}
        for kind in result_kinds:
            links[ResultKind(kind).value] = self.result(image_id, kind)
        return links
