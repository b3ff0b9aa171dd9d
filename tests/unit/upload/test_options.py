from __future__ import annotations

import pytest

from schemas import Channels, OutputFormat, SizePreset
from services.upload.domain.errors import ErrorCode, Rejected
from services.upload.domain.options import parse_options


def test_defaults_are_png_transparent_and_the_default_model() -> None:
    options = parse_options(None, None, None)
    assert options.output_format is OutputFormat.PNG
    assert options.background == "transparent"
    assert options.model is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("#FFFFFF", "#ffffff"),
        ("#fff", "#ffffff"),
        ("#A1b2C3", "#a1b2c3"),
        ("Transparent", "transparent"),
    ],
)
def test_backgrounds_are_normalised_to_the_contract(given: str, expected: str) -> None:
    assert parse_options("webp", given, " isnet-general-use ").background == expected


@pytest.mark.parametrize(
    ("output_format", "background", "model", "option"),
    [
        ("jpeg", None, None, "output_format"),
        (None, "red", None, "background"),
        (None, "#12345", None, "background"),
        (None, None, "../etc/passwd", "model"),
        (None, None, "x" * 129, "model"),
    ],
)
def test_invalid_options_are_refused_naming_the_option(
    output_format: str | None, background: str | None, model: str | None, option: str
) -> None:
    with pytest.raises(Rejected) as caught:
        parse_options(output_format, background, model)
    assert caught.value.code is ErrorCode.INVALID_OPTION
    assert caught.value.details["option"] == option


@pytest.mark.parametrize(
    ("given", "expected"),
    [(None, None), ("", None), ("true", True), ("ON", True), ("0", False), (" false ", False)],
)
def test_foreground_estimation_is_a_yes_or_no(given: str | None, expected: bool | None) -> None:
    assert parse_options(None, None, None, given).foreground_estimation is expected


def test_foreground_estimation_refuses_anything_else() -> None:
    with pytest.raises(Rejected) as caught:
        parse_options(None, None, None, "maybe")
    assert caught.value.code is ErrorCode.INVALID_OPTION
    assert "foreground_estimation" in str(caught.value)


def test_a_model_outside_the_known_ones_is_refused_naming_them() -> None:
    known = ["isnet-general-use", "isnet-general-use-quint8"]
    assert parse_options(None, None, " isnet-general-use-quint8 ", known_models=known).model == (
        "isnet-general-use-quint8"
    )
    assert parse_options(None, None, None, known_models=known).model is None
    with pytest.raises(Rejected) as refused:
        parse_options(None, None, "isnet-general-usee", known_models=known)
    assert refused.value.code is ErrorCode.INVALID_OPTION
    assert refused.value.details == {
        "option": "model",
        "known": "isnet-general-use, isnet-general-use-quint8",
    }
    assert "isnet-general-use, isnet-general-use-quint8" in refused.value.message


def test_callback_url_is_an_absolute_http_url_without_credentials() -> None:
    from services.upload.domain.options import parse_callback_url

    assert parse_callback_url(None) is None
    assert parse_callback_url("  ") is None
    assert parse_callback_url(" https://hooks.example.com/c?x=1 ") == (
        "https://hooks.example.com/c?x=1"
    )
    assert parse_callback_url("http://127.0.0.1:9/") == "http://127.0.0.1:9/"
    assert parse_callback_url("HTTPS://hooks.example.com?x=1") == "https://hooks.example.com?x=1"
    assert parse_callback_url("https://ab") == "https://ab"
    assert parse_callback_url("https://[2001:db8::1]:8443/x") == "https://[2001:db8::1]:8443/x"
    for bad, why in [
        ("ftp://hooks.example.com/", "https://"),
        ("hooks.example.com/x", "https://"),
        ("https:///x", "no host"),
        ("https://user:pw@hooks.example.com/", "user name"),
        ("https://hooks.example.com/#frag", "fragment"),
        ("https://hooks.example.com/a b", "spaces"),
        ("https://hooks.example.com:99999/", "valid URL"),
        ("https://hooks.example.com/" + "a" * 2048, "2048"),
    ]:
        with pytest.raises(Rejected, match=why) as refused:
            parse_callback_url(bad)
        assert refused.value.code is ErrorCode.INVALID_OPTION
        assert refused.value.details == {"option": "callback_url"}


def test_shape_options_parse_to_the_contract_and_a_lone_margin_is_refused() -> None:
    options = parse_options(
        None, None, None, crop="yes", crop_margin="5% 20", channels="ALPHA", size="hd"
    )
    assert options.crop is True and options.crop_margin == "5% 20px 5% 20px"
    assert options.channels is Channels.ALPHA and options.size is SizePreset.HD
    assert parse_options(None, None, None, crop="false").crop is None
    for bad in ({"crop_margin": "10px"}, {"channels": "rgb"}, {"size": "8k"}, {"crop": "2"}):
        with pytest.raises(Rejected):
            parse_options(None, None, None, **bad)
