"""What the finish stage is asked to do with a mask, as plain values (no image libraries)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MaskUpsampling(StrEnum):
    """How the model's mask is brought to the photo's size."""

    BILINEAR = "bilinear"
    GUIDED = "guided"


@dataclass(frozen=True)
class FinishOptions:
    """How a mask becomes the results: the background, the colours of soft edges, the
    upsampling of the mask."""

    background: str
    foreground_estimation: bool
    upsampling: MaskUpsampling

    @classmethod
    def configured(
        cls, background: str, foreground_estimation: bool, upsampling: MaskUpsampling | str
    ) -> FinishOptions:
        return cls(background, foreground_estimation, MaskUpsampling(upsampling))

    def variant(self) -> str:
        """These options in a result's content key (besides the format and background)."""
        return f"fg{int(self.foreground_estimation)}-{self.upsampling.value}"


def wants_foreground_estimation(requested: bool | None, configured: bool) -> bool:
    """The upload's choice when it made one, else the processor's setting."""
    return configured if requested is None else requested
