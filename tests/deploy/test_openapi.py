"""The API's OpenAPI document (docs/api/openapi.json, kept equal to the served one by the api
crate's test `the_published_document_is_the_served_one`) is valid OpenAPI 3.0."""

import json

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from conftest import REPO

DOCUMENT = REPO / "docs" / "api" / "openapi.json"


@pytest.fixture(scope="module")
def document():
    return json.loads(DOCUMENT.read_text())


def test_the_document_is_valid_openapi_3_0(document):
    assert document["openapi"].startswith("3.0.")
    validate(document)


def test_the_validator_refuses_what_oas_3_0_forbids(document):
    """The check can fail: an empty required list is what the document once had."""
    broken = json.loads(json.dumps(document))
    schema = next(schema for schema in broken["components"]["schemas"].values() if "required" in schema)
    schema["required"] = []
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_no_schema_anywhere_has_an_empty_required_list(document):
    def walk(node, where):
        if isinstance(node, dict):
            assert node.get("required", ["present"]) != [], f"{where} has an empty required list"
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    walk(document, "#")


def test_inputs_state_the_limits_the_server_enforces(document):
    schemas = document["components"]["schemas"]
    # NewStream is one of a push stream (which may bring its key) and a camera stream.
    push, camera = schemas["NewStream"]["oneOf"]
    assert (push["properties"]["kind"]["enum"], camera["properties"]["kind"]["enum"]) == (["push"], ["camera"])
    assert "stream_key" not in camera["properties"] and "camera" not in push["properties"]
    assert camera["properties"]["name"] == push["properties"]["name"]
    name = push["properties"]["name"]
    key = push["properties"]["stream_key"]
    assert (name["minLength"], name["maxLength"], name["pattern"]) == (1, 64, "^[a-z0-9_-]+$")
    assert (key["minLength"], key["maxLength"], key["pattern"]) == (16, 128, "^[A-Za-z0-9_-]+$")
    assert schemas["NewUser"]["properties"]["password"]["minLength"] == 12
    assert schemas["CameraSource"]["properties"]["url"]["maxLength"] == 2048
    assert schemas["NewWebhook"]["properties"]["secret"]["minLength"] == 16
    assert schemas["NewArea"]["properties"]["name"]["pattern"] == "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"
    expires = schemas["NewApiKey"]["properties"]["expires_in_secs"]
    assert (expires["minimum"], expires["maximum"]) == (1, 315360000)
    audit = {p["name"]: p["schema"] for p in document["paths"]["/api/v1/audit"]["get"]["parameters"]}
    assert (audit["limit"]["minimum"], audit["limit"]["maximum"]) == (1, 1000)
