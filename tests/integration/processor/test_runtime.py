"""The real ISNet model in a session with a dynamic batch axis: a batch of four equals four
single runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from schemas.values import ExecutionProvider
from services.common.settings import CommonSettings
from services.processor.domain.tensors import (
    normalise_mask,
    stack_batch,
    to_model_input,
    to_model_input_reference,
)
from services.processor.models.configured import configured_cache, configured_registry
from services.processor.runtime.session import load_session
from services.processor.settings import ProcessorSettings, ProviderChoice
from tests.unit.processor import samples

pytestmark = pytest.mark.timeout(900)


def test_a_batch_of_four_equals_four_single_runs(stack: CommonSettings) -> None:
    settings = ProcessorSettings(max_batch=4, provider=ProviderChoice.AUTO)
    spec = configured_registry(settings).get(None)
    path: Path = configured_cache(settings, stack).ensure(spec).path
    session = load_session(spec, path, settings)
    assert session.max_batch == 4
    assert session.provider is ExecutionProvider.CPU
    astronaut, coffee = samples.photo("astronaut"), samples.photo("coffee")
    images = [astronaut, coffee, np.ascontiguousarray(astronaut[:, ::-1]), coffee[::2, ::2]]
    inputs = [to_model_input(image, session.input_spec) for image in images]

    batched = session.run(stack_batch(inputs))
    singles = [session.run(stack_batch([x]))[0] for x in inputs]

    assert batched.shape == (4, 1, 1024, 1024)
    for position, single in enumerate(singles):
        difference = float(np.abs(batched[position] - single).max())
        assert difference < 5e-4, f"image {position}: batched output differs by {difference}"
        assert samples.iou(normalise_mask(batched[position]), normalise_mask(single)) >= 0.999
    assert not np.allclose(singles[0], singles[1]), "different images, different masks"


def test_the_fast_preprocessing_gives_the_reference_masks(stack: CommonSettings) -> None:
    """OpenCV's resize against the numpy reference, through the real model: the same masks
    on every photo of the set, at its own size and enlarged and reduced (both directions
    of the resize)."""
    settings = ProcessorSettings(provider=ProviderChoice.AUTO)
    spec = configured_registry(settings).get(None)
    session = load_session(spec, configured_cache(settings, stack).ensure(spec).path, settings)
    photos = {name: samples.photo(name) for name in ("astronaut", "coffee", "chelsea", "rocket")}
    photos["coffee-3000x2000"] = np.asarray(
        Image.fromarray(photos["coffee"]).resize((3000, 2000), Image.Resampling.BILINEAR)
    )
    photos["astronaut-4500x4500"] = np.asarray(  # a large reduction: the 8-bit path
        Image.fromarray(photos["astronaut"]).resize((4500, 4500), Image.Resampling.BILINEAR)
    )
    photos["astronaut-256x256"] = photos["astronaut"][::2, ::2]
    for name, pixels in photos.items():
        fast = session.run(stack_batch([to_model_input(pixels, session.input_spec)]))[0]
        reference = session.run(
            stack_batch([to_model_input_reference(pixels, session.input_spec)])
        )[0]
        assert samples.iou(normalise_mask(fast), normalise_mask(reference)) >= 0.999, name
