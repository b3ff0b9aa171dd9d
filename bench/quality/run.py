"""``clearcut bench quality``: per model, mask IoU against a bare reference run, halo
figures against rembg, edge accuracy at 24 MP; saliency metrics over a DIS5K-layout folder.

Runs offline on this machine's CPU: the processor's own code (its ONNX Runtime session,
pre- and post-processing, foreground estimation and mask upsampling), no pipeline needed.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.quality import edges, halo, saliency
from bench.quality.reference import ReferenceRun
from services.common.settings import CommonSettings
from services.processor.domain.compose import cutout, full_size_alpha
from services.processor.domain.finish import MaskUpsampling
from services.processor.domain.tensors import normalise_mask, stack_batch, to_model_input
from services.processor.models.configured import configured_cache, configured_registry
from services.processor.models.registry import ModelSpec
from services.processor.runtime.session import ModelSession, load_session
from services.processor.settings import ProcessorSettings

DEFAULT_MODELS = ("isnet-general-use", "u2netp")
DEFAULT_SYSTEM = "Clearcut (default: foreground estimation)"
PLAIN_SYSTEM = "Clearcut, foreground estimation off"
SALIENCY_KEYS = ("S-measure", "max F", "weighted F", "MAE", "mean E-measure")


@dataclass
class ModelReport:
    model: str
    iou: dict[str, float] = field(default_factory=dict)
    # Per background (``halo.BACKGROUNDS``), per system: the band's figures.
    halo: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    fg_seconds_per_mp: float = 0.0
    edges: list[dict[str, float | str]] = field(default_factory=list)
    saliency: dict[str, float] | None = None


class Clearcut:
    """The processor's path from an RGB photo to its mask and cut-out."""

    def __init__(self, spec: ModelSpec, session: ModelSession) -> None:
        self.spec, self.session = spec, session

    def mask(self, rgb: np.ndarray) -> np.ndarray:
        output = self.session.run(stack_batch([to_model_input(rgb, self.spec.input_spec)]))[0]
        low = normalise_mask(output, sigmoid=self.spec.sigmoid)
        return np.asarray(full_size_alpha(low, Image.fromarray(rgb), None, MaskUpsampling.GUIDED))

    def cut(self, rgb: np.ndarray, *, foreground_estimation: bool) -> tuple[np.ndarray, float]:
        alpha = Image.fromarray(self.mask(rgb), mode="L")
        started = time.perf_counter()
        out = cutout(
            Image.fromarray(rgb), alpha, "transparent", foreground_estimation=foreground_estimation
        )
        return np.asarray(out), time.perf_counter() - started


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    left, right = a >= 128, b >= 0.5
    union = np.logical_or(left, right).sum()
    return float(np.logical_and(left, right).sum() / union) if union else 1.0


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def run_model(name: str, dataset: Path, say: Callable[[str], None], *, rembg: bool) -> ModelReport:
    settings = ProcessorSettings(max_batch=1)
    spec = configured_registry(settings).get(name)
    path = configured_cache(settings, CommonSettings()).ensure(spec).path
    session = load_session(spec, path, settings)
    session.warm_up(1)
    clearcut, reference = Clearcut(spec, session), ReferenceRun(spec, str(path))
    report = ModelReport(model=name)
    systems: dict[str, dict[str, list[halo.HaloScore]]] = {b: {} for b in halo.BACKGROUNDS}
    fg_cost: list[float] = []
    cutter = (
        halo.RembgCutter(spec.family, path)
        if rembg and spec.family in halo.REMBG_SESSIONS
        else None
    )
    for photo_name in halo.PHOTOS:
        rgb = halo.photo(photo_name)
        truth_mask = reference.mask(rgb)
        report.iou[photo_name] = _iou(clearcut.mask(rgb), truth_mask)
        for background, make in halo.BACKGROUNDS.items():
            blended = halo.composite(rgb, truth_mask, make(rgb.shape))
            scores = systems[background]
            plain, _ = clearcut.cut(blended, foreground_estimation=False)
            estimated, seconds = clearcut.cut(blended, foreground_estimation=True)
            fg_cost.append(seconds / (rgb.shape[0] * rgb.shape[1] / 1e6))
            scores.setdefault(PLAIN_SYSTEM, []).append(halo.score(plain, rgb))
            scores.setdefault(DEFAULT_SYSTEM, []).append(halo.score(estimated, rgb))
            if cutter is not None:
                naive, _ = cutter.cut(blended, decontaminate=False)
                clean, _ = cutter.cut(blended, decontaminate=True)
                scores.setdefault(f"rembg {cutter.version} remove()", []).append(
                    halo.score(naive, rgb)
                )
                scores.setdefault(f"rembg {cutter.version} remove(decontaminate=True)", []).append(
                    halo.score(clean, rgb)
                )
        say(f"  {name}: {photo_name} done (IoU {report.iou[photo_name]:.4f})")
    report.halo = {
        background: {
            system: {
                "rgb_error": _mean([s.rgb_error for s in found]),
                "extra_green": _mean([s.extra_green for s in found]),
            }
            for system, found in by_system.items()
        }
        for background, by_system in systems.items()
    }
    report.fg_seconds_per_mp = _mean(fg_cost)
    side = spec.input_size[0]
    report.edges = [asdict(s) for s in edges.compare(6000, 4000, side)]
    if saliency.unavailable() is None:
        report.saliency = saliency.metrics(dataset, clearcut.mask)
    return report


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _header(*names: str) -> list[str]:
    return [_row(*names), _row(*["---"] * len(names))]


def markdown(reports: list[ModelReport], dataset: str) -> str:
    lines = ["## Mask IoU against a bare reference run (threshold 0.5)", ""]
    lines += _header("model", *halo.PHOTOS, "mean")
    for r in reports:
        values = [r.iou[p] for p in halo.PHOTOS]
        lines.append(_row(r.model, *(f"{v:.4f}" for v in values), f"{_mean(values):.4f}"))
    lines += [
        "",
        "## Halo: each photo over a green background, cut out again",
        "",
        "Band 0.1 < alpha < 0.9 of each cut-out; mean of the four photos; grey levels.",
        "Backgrounds: flat saturated green, and a green-tinted texture.",
        "",
    ]
    lines += _header(
        "model", "background", "system", "mean RGB error in the band", "extra green in the band"
    )
    for r in reports:
        for background, by_system in r.halo.items():
            for system, figures in by_system.items():
                error, green = figures["rgb_error"], figures["extra_green"]
                lines.append(_row(r.model, background, system, f"{error:.1f}", f"{green:.1f}"))
    lines.append("")
    for r in reports:
        for background, by_system in r.halo.items():
            ours = by_system.get(DEFAULT_SYSTEM)
            theirs = [v for k, v in by_system.items() if "decontaminate" in k]
            if ours and theirs:
                ratio = ours["rgb_error"] / theirs[0]["rgb_error"]
                lines.append(
                    f"- {r.model}, {background}: RGB error / rembg `decontaminate=True`'s"
                    f" = {ratio:.3f}"
                )
    lines += ["", "## Edge accuracy at 24 MP", ""]
    lines += [
        "A 6000x4000 scene with a known sharp edge; a perfect mask at the model's input size,",
        "brought to full size; scored within 12 px of the true edge.",
        "",
    ]
    lines += _header("model", "upsampling", "mean abs error (grey levels)", "IoU", "seconds")
    for r in reports:
        for e in r.edges:
            lines.append(
                _row(
                    r.model,
                    e["method"],
                    f"{float(e['mean_abs_error']):.2f}",
                    f"{float(e['iou']):.4f}",
                    f"{float(e['seconds']):.2f}",
                )
            )
    lines += ["", "## Foreground estimation cost", ""]
    for r in reports:
        per_mp = r.fg_seconds_per_mp * 1000
        lines.append(f"- {r.model}: {per_mp:.0f} ms per megapixel (four photos, two backgrounds)")
    lines += ["", f"## Saliency metrics ({dataset})", ""]
    if any(r.saliency for r in reports):
        lines += _header(
            "model", "S-measure", "max F", "weighted F", "MAE", "mean E-measure", "images"
        )
        for r in reports:
            if r.saliency:
                s = r.saliency
                lines.append(
                    _row(
                        r.model,
                        *(f"{s[k]:.4f}" for k in SALIENCY_KEYS),
                        int(s["images"]),
                    )
                )
    else:
        reason = saliency.unavailable() or "no model was measured"
        lines.append(f"{reason}: no saliency table (see bench/README.md).")
    return "\n".join(lines) + "\n"


def run(
    models: list[str] | None,
    dataset: Path | None,
    out_dir: Path,
    say: Callable[[str], None],
    *,
    rembg: bool = True,
) -> str:
    with tempfile.TemporaryDirectory(prefix="clearcut-quality-") as tmp:
        folder = dataset or saliency.synthetic_set(Path(tmp) / "synthetic")
        label = str(dataset) if dataset else "the bench's synthetic set of 6 shapes"
        reports = [
            run_model(name, folder, say, rembg=rembg) for name in (models or list(DEFAULT_MODELS))
        ]
    text = markdown(reports, label)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "quality.md").write_text("# Quality\n\n" + text)
    payload: dict[str, Any] = {"dataset": label, "models": [asdict(r) for r in reports]}
    (out_dir / "quality.json").write_text(json.dumps(payload, indent=2))
    return text
