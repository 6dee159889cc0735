"""Contract: the simulator's real answers match lemlist's published OpenAPI document.

Schemas catch wrong types; key-set comparisons with the documented examples catch drift
(a pending status with `url`, a done one without `fileSize`) that schemas allow.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import urllib3
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from local_stack.lemlist_simulator import DEFAULT_CAMPAIGN_ID, ExportPlan, Fault, LemlistSimulator

SPEC_PATH = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "reference"
    / "lemlist-openapi-subset.json"
)
START = "/campaigns/{campaignId}/export/start"
STATUS = "/campaigns/{campaignId}/export/{exportId}/status"
EMAIL = "/campaigns/{campaignId}/export/{exportId}/email/{email}"
API_KEY = "contract-key"
AUTH = urllib3.make_headers(basic_auth=f":{API_KEY}")
TEXT = "text/plain"
JSON = "application/json"


@cache
def spec() -> dict[str, Any]:
    return dict(json.loads(SPEC_PATH.read_text(encoding="utf-8")))


def resolve(node: Any) -> Any:
    """Inline every local `$ref` (the subset has no recursive ones)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = spec()
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolve(target)
        return {key: resolve(value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item) for item in node]
    return node


def documented(path: str, status: int, method: str = "get") -> dict[str, Any]:
    return dict(resolve(spec()["paths"][path][method]["responses"][str(status)]))


def media_type(response: urllib3.BaseHTTPResponse) -> str:
    return str(response.headers.get("Content-Type", "")).split(";")[0].strip()


def assert_conforms(response: urllib3.BaseHTTPResponse, path: str, method: str = "get") -> Any:
    """The answer's status and media type are documented, and its body fits the schema."""
    doc = documented(path, response.status, method)
    assert media_type(response) in doc["content"], f"{path} {response.status}"
    body = response.json()
    schema = doc["content"][JSON]["schema"]
    OAS30Validator(schema, format_checker=oas30_format_checker).validate(body)
    return body


def example(path: str, name: str | None = None, method: str = "get") -> Any:
    content = documented(path, 200, method)["content"][JSON]
    return content["examples"][name]["value"] if name else content["example"]


@pytest.fixture
def sim() -> Iterator[LemlistSimulator]:
    with LemlistSimulator(api_key=API_KEY) as simulator:
        simulator.add_campaign(
            "cam_Contract0000000001", "Contract", plan=ExportPlan(pending_polls=1)
        )
        simulator.add_campaign(
            "cam_ContractFailure001", "Failing", plan=ExportPlan(pending_polls=0, outcome="error")
        )
        yield simulator


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    manager = urllib3.PoolManager(retries=False, timeout=5, headers=AUTH)
    yield manager
    manager.clear()


def get(http: urllib3.PoolManager, sim: LemlistSimulator, path: str) -> urllib3.BaseHTTPResponse:
    return http.request("GET", f"{sim.base_url}{path}")


def test_spec_is_the_published_subset() -> None:
    assert spec()["openapi"].startswith("3.0")
    assert {START, STATUS, EMAIL, "/campaigns", "/team"} <= set(spec()["paths"])


def test_start_export_matches_schema_and_example(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    started = assert_conforms(
        get(http, sim, f"/campaigns/{DEFAULT_CAMPAIGN_ID}/export/start"), START
    )
    assert set(started) == set(example(START))
    assert started["_id"] == started["id"]
    assert (started["status"], started["progressType"]) == ("pending", "starting")


def test_status_pending_then_done_match_schema_and_examples(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    export_id = get(http, sim, "/campaigns/cam_Contract0000000001/export/start").json()["id"]
    status_path = f"/campaigns/cam_Contract0000000001/export/{export_id}/status"

    pending = assert_conforms(get(http, sim, status_path), STATUS)
    assert set(pending) == set(example(STATUS, "pending")) == {"ok", "status"}
    assert set(pending["status"]) == set(example(STATUS, "pending")["status"])
    assert {"_id", "url", "fileSize", "endedAt"}.isdisjoint(pending["status"])

    done = assert_conforms(get(http, sim, status_path), STATUS)
    assert set(done["status"]) == set(example(STATUS, "done")["status"])
    assert {"_id", "url", "fileSize", "endedAt"} <= set(done["status"])


def test_status_error_matches_schema(sim: LemlistSimulator, http: urllib3.PoolManager) -> None:
    export_id = get(http, sim, "/campaigns/cam_ContractFailure001/export/start").json()["id"]
    failed = assert_conforms(
        get(http, sim, f"/campaigns/cam_ContractFailure001/export/{export_id}/status"), STATUS
    )
    assert failed["status"]["status"] == "error"
    assert set(failed["status"]) <= set(
        documented(STATUS, 200)["content"][JSON]["schema"]["properties"]["status"]["properties"]
    )


def test_email_matches_schema_and_example(sim: LemlistSimulator, http: urllib3.PoolManager) -> None:
    export_id = get(http, sim, f"/campaigns/{DEFAULT_CAMPAIGN_ID}/export/start").json()["id"]
    export_url = f"{sim.base_url}/campaigns/{DEFAULT_CAMPAIGN_ID}/export/{export_id}"
    for _ in range(3):  # the default plan answers pending twice, then done
        http.request("GET", f"{export_url}/status")
    answer = http.request("PUT", f"{export_url}/email/emily.johnson%40example.com")
    body = assert_conforms(answer, EMAIL, "put")
    assert set(body["status"]) == set(example(EMAIL, method="put")["status"])
    assert body["status"]["email"] == "emily.johnson@example.com"


def test_campaigns_match_schema(sim: LemlistSimulator, http: urllib3.PoolManager) -> None:
    sim.campaign_list_shape = "array"
    listed = assert_conforms(get(http, sim, "/campaigns?version=v2&limit=100&page=1"), "/campaigns")
    assert {item["_id"] for item in listed} >= {DEFAULT_CAMPAIGN_ID, "cam_Contract0000000001"}
    documented_keys = set().union(*(item.keys() for item in example("/campaigns")))
    assert set(listed[0]) <= documented_keys

    # The paginated shape is not in the document; its items must still be Campaigns.
    sim.campaign_list_shape = "paginated"
    try:
        page = get(http, sim, "/campaigns?version=v2&limit=1&page=1").json()
    finally:
        sim.campaign_list_shape = "array"
    item_schema = documented("/campaigns", 200)["content"][JSON]["schema"]["items"]
    for item in page["campaigns"]:
        OAS30Validator(item_schema, format_checker=oas30_format_checker).validate(item)


def test_team_matches_schema_and_hides_the_key(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    answer = get(http, sim, "/team")
    team = assert_conforms(answer, "/team")
    assert set(team) <= set(example("/team"))
    assert API_KEY not in answer.data.decode()


def test_campaign_not_found_is_text_as_documented(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    answer = get(http, sim, "/campaigns/cam_Missing/export/start")
    doc = documented(START, 404)
    assert media_type(answer) == TEXT and TEXT in doc["content"]
    assert answer.data.decode() == doc["content"][TEXT]["example"]

    # /status documents "Campaign not found" as a string; lemlist sends it as text/plain.
    on_status = get(http, sim, "/campaigns/cam_Missing/export/axp_Whatever/status")
    assert media_type(on_status) == TEXT
    status_404 = documented(STATUS, 404)["content"][JSON]
    assert on_status.data.decode() == status_404["examples"]["campaignNotFound"]["value"]
    OAS30Validator(status_404["schema"]).validate(on_status.data.decode())


def test_export_not_found_is_json_matching_the_one_of(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    answer = get(http, sim, f"/campaigns/{DEFAULT_CAMPAIGN_ID}/export/axp_DIoSPp9YM5EwWdyP0/status")
    body = assert_conforms(answer, STATUS)
    documented_body = documented(STATUS, 404)["content"][JSON]["examples"]["exportNotFound"][
        "value"
    ]
    assert body == documented_body


def test_email_not_found_answers_are_text(sim: LemlistSimulator, http: urllib3.PoolManager) -> None:
    answer = http.request(
        "PUT", f"{sim.base_url}/campaigns/{DEFAULT_CAMPAIGN_ID}/export/axp_Missing/email/a%40b.co"
    )
    examples = documented(EMAIL, 404, "put")["content"][TEXT]["examples"]
    assert (answer.status, media_type(answer)) == (404, TEXT)
    assert answer.data.decode() == examples["exportNotFound"]["value"]


def test_bad_team_and_unauthorized_answers_are_documented(
    sim: LemlistSimulator, http: urllib3.PoolManager
) -> None:
    sim.inject("start", Fault.bad_team())
    bad_team = get(http, sim, f"/campaigns/{DEFAULT_CAMPAIGN_ID}/export/start")
    doc = documented(START, 400)
    assert (bad_team.status, media_type(bad_team)) == (400, TEXT)
    assert bad_team.data.decode() == doc["content"][TEXT]["example"]

    unauthorized = urllib3.PoolManager(retries=False).request(
        "GET", f"{sim.base_url}/campaigns/{DEFAULT_CAMPAIGN_ID}/export/start"
    )
    assert unauthorized.status == 401
    assert "content" not in documented(START, 401)  # documented without a body
    assert unauthorized.data == b""
