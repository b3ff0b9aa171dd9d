"""The OpenAPI document is the contract: schemathesis, with every check on, against the real
API (upload API, projector, processor with the bench's near-free model, and notifier as
processes on topics of this module), in every phase: the document's examples, coverage of
each constraint's boundaries, random valid and invalid requests, and stateful sequences
that follow the document's links from an upload to its status, result, reprocessing and
deletion with real ids.

Generic over the document: every operation `/openapi.json` lists is tested, so a route
added later is covered without touching this test. Nothing is excluded by path: the web
page (`/`), its assets, `/docs` and its assets are not in the document
(`include_in_schema=False` or static mounts, HTML for people), and the websocket is the
notifier's, a service of its own. What JSON Schema cannot say about valid requests (real
image files, cursors, ranges, one Idempotency-Key per request) is in
`schemathesis_hooks.py`; the one status treated like 404 is explained in `schemathesis.toml`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench.nullmodel import write_null_model
from services.common.settings import REPO_ROOT, CommonSettings
from tests.e2e.processes import new_api_key, running, services_for

pytestmark = pytest.mark.timeout(900)
HERE = Path(__file__).resolve().parent
# Examples per operation and phase: bounded so the run takes a few minutes on a loaded
# 2-core machine; the seed makes a failure reproducible (`schemathesis run --seed`).
MAX_EXAMPLES = int(os.environ.get("CLEARCUT_CONTRACT_EXAMPLES", "10"))
SEED = int(os.environ.get("CLEARCUT_CONTRACT_SEED", "1"))


@dataclass(frozen=True)
class Api:
    url: str
    key: str
    logs: Path


@pytest.fixture(scope="module")
async def api(
    stack: CommonSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Api]:
    null = write_null_model(tmp_path_factory.mktemp("null-model"))
    logs = tmp_path_factory.mktemp("contract")
    services = await services_for(
        stack,
        "contract",
        logs,
        # The API offers the models the processor runs: the near-free one.
        upload={"CLEARCUT_UPLOAD_MODEL_REGISTRY_FILE": str(null.registry)},
        processor={"CLEARCUT_PROCESSOR_REGISTRY_FILE": str(null.registry)},
    )
    key = await new_api_key(stack, f"contract-{services.unique}")
    async with running(services):
        yield Api(services.api, key, logs)


def schemathesis_run(api: Api, report: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(HERE / "schemathesis.toml"),
            "run",
            f"{api.url}/openapi.json",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--header",
            f"Authorization: Bearer {api.key}",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--report",
            "junit",
            "--report-junit-path",
            str(report / "junit.xml"),
            "--output-truncate",
            "false",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.e2e.schemathesis_hooks"},
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )


def test_the_api_does_what_its_openapi_document_says(api: Api, tmp_path: Path) -> None:
    document = httpx.get(f"{api.url}/openapi.json").json()
    operations = {
        f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item
    }
    done = schemathesis_run(api, tmp_path)
    output = done.stdout + done.stderr
    print(output[-20000:])
    assert done.returncode == 0, output[-20000:]
    summary = output.split("SUMMARY")[-1]
    assert "passed" in summary and "failure" not in summary, summary
    # Every operation of the document was tested, and the stateful phase followed the
    # links from an upload to the operations on its id.
    junit = (tmp_path / "junit.xml").read_text()
    for operation in operations:
        assert operation in junit, f"{operation} was not tested"
    assert "Stateful" in output
    links = [line for line in output.splitlines() if "API Links:" in line]
    assert links and not links[-1].strip().startswith("API Links:    0 covered"), links
    # And the server logged no unhandled error on the way.
    for log in api.logs.glob("upload-*.log"):
        assert "unhandled error" not in log.read_text(errors="replace"), log


def test_the_document_declares_the_model_names_and_the_minimum_size(api: Api) -> None:
    document = httpx.get(f"{api.url}/openapi.json").json()
    upload = document["paths"]["/v1/images"]["post"]
    models = next(p for p in upload["parameters"] if p["name"] == "model")
    served = httpx.get(f"{api.url}/v1/models").json()
    assert models["schema"]["enum"] == [*(m["name"] for m in served["models"]), ""]
    minimum = httpx.get(f"{api.url}/v1/page-config").json()["min_dimension"]
    assert f"at least {minimum} px" in upload["description"]
    assert "image_too_small" in upload["responses"]["422"]["description"]
    assert {"GetImage", "GetResult", "ReprocessImage", "DeleteImage"} <= set(
        upload["responses"]["202"]["links"]
    )
    print(json.dumps(upload["responses"]["202"]["links"], indent=1))
