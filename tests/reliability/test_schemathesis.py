"""Requests generated from the gateway's and the model service's OpenAPI: no answer is a 5xx,
and every answer matches the schema its operation documents. The gateway is run twice: as an
anonymous visitor and as a signed-in user.

`schemathesis run` against the real servers, its examples bounded per operation and its seed
fixed, so a run is short and a failure replays. Every request it sent is counted by status.
"""

import json
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from stack.parts import MACHINE_HEADERS, GatewayProcess
from tests.reliability.ledger import Ledger

pytestmark = pytest.mark.integration

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = "not_a_server_error,response_schema_conformance"
SEED = "20261122"
SCHEMA_MISMATCH = "ST108"
EXPECTED = "no 5xx; every answer as documented"
MODEL_SERVICE_EXPECTED = "no 5xx, every response as documented"


def run_schemathesis(
    schema_url: str, report_dir: Path, config: str = "", headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """The JSON run report, with `statuses`: how many of its requests got each status."""
    config_file = report_dir / "schemathesis.toml"
    config_file.write_text(config)
    command = [str(SCHEMATHESIS), "--config-file", str(config_file), "--no-color", "run",
               schema_url, "--checks", CHECKS, "--max-examples", "5", "--seed", SEED,
               "--workers", "1", "--request-timeout", "30", "--report", "json,har",
               "--report-dir", str(report_dir)]  # fmt: skip
    for name, value in (headers or {}).items():
        command += ["--header", f"{name}: {value}"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=180)
    reports = {path.name.split("-")[0]: path for path in report_dir.glob("*.json")}
    if "json" not in reports:
        pytest.fail(f"schemathesis wrote no report:\n{run.stdout[-3000:]}\n{run.stderr[-2000:]}")
    report = json.loads(reports["json"].read_text())
    entries = json.loads(reports["har"].read_text())["log"]["entries"]
    report["statuses"] = Counter(entry["response"]["status"] for entry in entries)
    report["output"] = run.stdout[-5000:]
    return report


def assert_no_server_error(report: dict[str, Any]) -> None:
    assert report["complete"], report["output"]
    assert report["operations"]["errored"] == 0, report["output"]
    assert report["errors"] == [], report["output"]
    assert not [status for status in report["statuses"] if status >= 500], report["output"]
    # ST108 is a response that does not match its schema; every other failure counts here.
    assert [f for f in report["failures"] if f["code"] != SCHEMA_MISMATCH] == [], report["output"]


def assert_as_documented(report: dict[str, Any]) -> None:
    assert report["failures"] == [], report["output"]
    assert report["exit_code"] == 0, report["output"]


def signed_in_user(gateway_url: str) -> dict[str, str]:
    account = {"email": f"{uuid.uuid4().hex[:8]}@example.org",
               "password": "generated requests' user", "display_name": "시험 사용자"}  # fmt: skip
    assert httpx.post(f"{gateway_url}/auth/register", json=account).status_code == 201
    token = httpx.post(
        f"{gateway_url}/auth/token",
        data={"username": account["email"], "password": account["password"]},
    )
    return {"Authorization": f"Bearer {token.json()['access_token']}"}  # fmt: skip


@pytest.fixture(scope="module", params=["anonymous", "user"])
def gateway_report(request, open_gateway: GatewayProcess, tmp_path_factory, ledger: Ledger) -> dict:
    movies = [httpx.post(f"{open_gateway.url}/movies/", json={"title": f"시험 영화 {n}"},
                         headers=MACHINE_HEADERS).json()
              for n in range(2)]  # fmt: skip
    body = {"movie_id": movies[0]["id"], "author": "관객", "content": "생성된 요청을 받을 리뷰"}
    review = httpx.post(
        f"{open_gateway.url}/reviews/", json=body, headers=MACHINE_HEADERS, timeout=30
    ).json()
    # Some generated requests name these rows, so they reach past the 404 of an unknown id.
    config = f"""
[dictionaries.movies]
values = {[movie["id"] for movie in movies]}
[dictionaries.reviews]
values = [{review["id"]}]
[parameters]
"path.movie_id" = {{ dictionary = "movies", probability = 0.5 }}
"body.movie_id" = {{ dictionary = "movies", probability = 0.5 }}
"path.review_id" = {{ dictionary = "reviews", probability = 0.5 }}
"""
    headers = signed_in_user(open_gateway.url) if request.param == "user" else {}
    report_dir = tmp_path_factory.mktemp(f"schemathesis-gateway-{request.param}")
    report = run_schemathesis(f"{open_gateway.url}/openapi.json", report_dir, config, headers)
    ledger.refusal(f"schemathesis: generated gateway requests ({request.param})", "gateway",
                   report["statuses"].elements(), expected=EXPECTED)  # fmt: skip
    return report | {"caller": request.param}


@pytest.fixture(scope="module")
def model_service_report(model_service_url: str, tmp_path_factory, ledger: Ledger) -> dict:
    report_dir = tmp_path_factory.mktemp("schemathesis-model-service")
    report = run_schemathesis(f"{model_service_url}/docs.json", report_dir)
    ledger.refusal("schemathesis: generated model service requests", "model service",
                   report["statuses"].elements(), expected=MODEL_SERVICE_EXPECTED)  # fmt: skip
    return report


def test_the_gateway_answers_generated_requests_without_a_server_error(gateway_report) -> None:
    assert_no_server_error(gateway_report)
    assert gateway_report["operations"]["tested"] == gateway_report["operations"]["total"] >= 13
    # Valid writes went through (a user's) or were refused for want of a token (anonymous), and
    # bad ones were refused: the generator reached both.
    written = 201 if gateway_report["caller"] == "user" else 401
    assert {written, 422} <= set(gateway_report["statuses"])


def test_the_gateway_answers_as_its_openapi_documents(gateway_report) -> None:
    assert_as_documented(gateway_report)


def test_the_model_service_answers_generated_requests_without_a_server_error(
    model_service_report,
) -> None:
    assert_no_server_error(model_service_report)
    assert model_service_report["operations"]["tested"] >= 2  # /classify and /model at least
    assert {200, 400} <= set(model_service_report["statuses"])


def test_the_model_service_answers_as_its_openapi_documents(model_service_report) -> None:
    assert_as_documented(model_service_report)
