"""The parts of the OpenAPI document that FastAPI cannot derive from the routes' types: the
constraints the server enforces by hand (the model names of this server's registry), and
the links between operations, so a client (or a stateful test) can follow an upload's id
to its status, result, reprocessing and deletion."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.upload.domain.idempotency import MAX_KEY_LENGTH
from services.upload.settings import UploadSettings

# What `domain/idempotency.check_key` accepts: 1-255 visible ASCII characters.
IDEMPOTENCY_KEY_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_KEY_LENGTH,
    "pattern": "^[!-~]+$",
}

_IMAGE = "/v1/images/{image_id}"
_IMAGE_ID = "$response.body#/id"

# (method, path, status) of a response -> links: name, (method, path) of the target,
# and the target's parameters as runtime expressions over that response.
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, dict[str, str]]]] = {
    ("post", "/v1/images", "202"): {
        "GetImage": ("get", _IMAGE, {"path.image_id": _IMAGE_ID}),
        "GetResult": ("get", f"{_IMAGE}/result", {"path.image_id": _IMAGE_ID}),
        "GetMask": (
            "get",
            f"{_IMAGE}/result",
            {"path.image_id": _IMAGE_ID, "query.kind": "mask"},
        ),
        "ReprocessImage": ("post", f"{_IMAGE}/reprocess", {"path.image_id": _IMAGE_ID}),
        "DeleteImage": ("delete", _IMAGE, {"path.image_id": _IMAGE_ID}),
    },
    ("get", _IMAGE, "200"): {
        "DownloadArchive": ("post", "/v1/images/archive", {}),
        "GetResult": ("get", f"{_IMAGE}/result", {"path.image_id": _IMAGE_ID}),
        "ReprocessImage": ("post", f"{_IMAGE}/reprocess", {"path.image_id": _IMAGE_ID}),
        "DeleteImage": ("delete", _IMAGE, {"path.image_id": _IMAGE_ID}),
    },
    ("post", f"{_IMAGE}/reprocess", "202"): {
        "GetImage": ("get", _IMAGE, {"path.image_id": _IMAGE_ID}),
        "GetResult": ("get", f"{_IMAGE}/result", {"path.image_id": _IMAGE_ID}),
    },
    ("delete", _IMAGE, "202"): {
        "GetImage": ("get", _IMAGE, {"path.image_id": _IMAGE_ID}),
    },
}


def complete_document(
    document: dict[str, Any], model_names: Sequence[str], settings: UploadSettings
) -> dict[str, Any]:
    """The document with the model names of this server's registry as the only values of
    every `model` option, this server's image limits in the upload's description, and the
    links between the image operations."""
    # An empty model name means the default, as when it is absent.
    models = {"type": "string", "enum": [*model_names, ""]}
    paths = document.get("paths", {})
    upload = paths.get("/v1/images", {}).get("post")
    if upload is not None:
        upload["description"] = _upload_description(settings)
        too_small = upload.get("responses", {}).get("422")
        if too_small is not None:
            too_small["description"] += (
                f" `image_too_small`: a side under {settings.min_dimension} px."
            )
    for operations in paths.values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and parameter.get("name") == "model":
                    parameter["schema"] = models
            for content in operation.get("requestBody", {}).get("content", {}).values():
                properties = content.get("schema", {}).get("properties", {})
                if "model" in properties:
                    properties["model"] = models
    request = document.get("components", {}).get("schemas", {}).get("ReprocessRequest")
    if request is not None:
        field = request["properties"]["model"]
        request["properties"]["model"] = {
            "anyOf": [models, {"type": "null"}],
            "description": field.get("description", ""),
        }
    for (method, path, status), links in LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        response["links"] = {
            name: _link(paths[target_path][target_method], parameters)
            for name, (target_method, target_path, parameters) in links.items()
            if target_method in paths.get(target_path, {})
        }
    return document


def _link(target: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    link: dict[str, Any] = {"operationId": target["operationId"]}
    if parameters:
        link["parameters"] = parameters
    if target["operationId"].startswith("download_archive"):
        # The archive of the image just read, with its mask.
        link["requestBody"] = {"images": [{"id": _IMAGE_ID}], "masks": True}
    return link


def _upload_description(settings: UploadSettings) -> str:
    return (
        "Accepts the image and answers 202 at once; the cut-out is made in the background "
        "(follow it with the `websocket` link or `GET /v1/images/{id}`). The image must be, "
        "by its bytes, a JPEG, PNG, WebP, GIF or TIFF of at most "
        f"{settings.max_body_bytes} bytes (413 `body_too_large`) and "
        f"{settings.max_pixels} pixels (413 `too_many_pixels`), each side at least "
        f"{settings.min_dimension} px (422 `image_too_small`); anything else is 415 "
        "`unsupported_media_type` or 422 `corrupt_image`. Options as query parameters or, "
        "in a multipart form, as fields of the same name (a field wins over the query "
        "parameter; both are checked); an empty option means its default; another query "
        "parameter is 400 "
        "`unknown_parameter`. With `Idempotency-Key`, a retry returns the same image."
    )
