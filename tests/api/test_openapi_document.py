"""The OpenAPI document says exactly what errors look like and how to authenticate."""
import jsonschema_rs
import pytest

from app.api import MAIL_DOCUMENT
from app.services import campaigns as campaign_service
from tests.conftest import BASE

DOC = "/api/v1/openapi.json"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture
def document(client):
    response = client.get(DOC)
    assert response.status_code == 200
    return response.json


@pytest.fixture
def mail_document(client):
    """The routes mail reaches (links in sent mail, the inbound route)."""
    response = client.get(MAIL_DOCUMENT)
    assert response.status_code == 200
    return response.json


def both_paths(document, mail_document):
    return {**document["paths"], **mail_document["paths"]}


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield f"{method.upper()} {path}", operation


def resolve(document, node):
    while "$ref" in node:
        *_, section, name = node["$ref"].split("/")
        node = document["components"][section][name]
    return node


def error_validator(document):
    return jsonschema_rs.validator_for({"allOf": [{"$ref": "#/components/schemas/Error"}],
                                        "components": document["components"]})


def test_error_schema_is_exactly_the_envelope(document):
    schemas = document["components"]["schemas"]
    error, body = schemas["Error"], schemas["ErrorBody"]
    assert error["type"] == "object"
    assert error["additionalProperties"] is False
    assert sorted(error["required"]) == ["error", "success"]
    assert error["properties"]["success"] == {"type": "boolean", "enum": [False]}
    assert error["properties"]["error"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert body["type"] == "object"
    assert body["additionalProperties"] is False
    assert sorted(body["required"]) == ["code", "details", "message"]
    assert body["properties"]["code"]["type"] == "string"
    assert body["properties"]["message"]["type"] == "string"
    assert body["properties"]["details"]["type"] == "object"


def test_every_documented_error_response_is_the_error_envelope(document, mail_document):
    checked = 0
    for doc in (document, mail_document):
        for label, operation in operations(doc):
            for status, response in operation["responses"].items():
                if status != "default" and int(status) < 400:
                    continue
                content = resolve(doc, response).get("content", {})
                assert list(content) == ["application/json"], f"{label} {status}"
                assert content["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"}, f"{label} {status}"
                checked += 1
    assert checked > 0


def test_every_operation_documents_a_default_error(document, mail_document):
    missing = [label for doc in (document, mail_document) for label, operation in operations(doc)
               if "default" not in operation["responses"]]
    assert missing == []


def test_campaign_operations_document_their_error_statuses(document):
    paths = document["paths"]
    assert {"401", "404", "422"} <= set(paths[BASE]["get"]["responses"])
    assert {"400", "401", "404", "415", "422"} <= set(paths[BASE]["post"]["responses"])
    item = paths[f"{BASE}/{{campaign_id}}"]
    assert {"401", "404"} <= set(item["get"]["responses"])
    assert {"400", "401", "404", "409", "415", "422"} <= set(item["patch"]["responses"])
    assert {"401", "404", "409"} <= set(item["delete"]["responses"])
    send = paths[f"{BASE}/{{campaign_id}}/send"]["post"]["responses"]
    assert {"400", "401", "404", "409", "415", "422"} <= set(send)


def test_successful_bodies_are_documented_with_success_true(document):
    schemas = document["components"]["schemas"]
    envelopes = [name for name in schemas if name.endswith("Envelope")]
    assert {"CampaignEnvelope", "CampaignListEnvelope"} <= set(envelopes)
    for name in envelopes:
        assert schemas[name]["properties"]["success"]["enum"] == [True], name


def test_bearer_security_scheme_is_declared(document):
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"


def test_tenant_operations_require_the_bearer_key(document):
    assert document["security"] == [{"bearerAuth": []}]
    tenant_operations = [(label, operation) for label, operation in operations(document)
                         if " /api/v1/tenant/" in label]
    assert len(tenant_operations) >= 6
    for label, operation in tenant_operations:
        assert operation.get("security", document["security"]) == [{"bearerAuth": []}], label
        assert "401" in operation["responses"], label


def test_errors_outside_any_operation_match_the_documented_envelope(api, tenant, document):
    """Answers no operation documents (unknown route, wrong method, bad JSON, too large)
    still have the documented error shape."""
    validator = error_validator(document)
    answers = [
        api.get("/api/v1/no-such-thing"),
        api.put(BASE, json={}),
        api.post(BASE, data="{", content_type="application/json"),
        api.post(BASE, data="x" * (2 * 1024 * 1024), content_type="application/json"),
        api.post(BASE, data="name=x", content_type="application/x-www-form-urlencoded"),
        api.get(f"{BASE}?workspace={tenant.slug}&limit=0"),
    ]
    assert [a.status_code for a in answers] == [404, 405, 400, 413, 415, 422]
    for answer in answers:
        assert answer.mimetype == "application/json"
        errors = [e.message for e in validator.iter_errors(answer.json)]
        assert errors == [], (answer.status_code, answer.json)


def test_an_unexpected_error_matches_the_documented_envelope(api, create_campaign, document,
                                                              monkeypatch):
    campaign_id = create_campaign()["id"]

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(campaign_service, "get_campaign", explode)
    answer = api.get(f"{BASE}/{campaign_id}")
    assert answer.status_code == 500
    assert [e.message for e in error_validator(document).iter_errors(answer.json)] == []


def _header_parameters(operation):
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}


def test_every_post_documents_the_idempotency_key(document, mail_document):
    posts = [(path, item["post"]) for path, item in both_paths(document, mail_document).items()
             if "post" in item and not path.startswith(("/t/", "/u/"))]
    assert posts
    for path, operation in posts:
        assert "Idempotency-Key" in _header_parameters(operation), path
        assert "409" in operation["responses"], path


def test_changes_of_one_campaign_document_if_match_and_412(document):
    base = "/api/v1/tenant/campaigns/{campaign_id}"
    for path, method in [(base, "patch"), (base, "delete"), (base + "/send", "post")]:
        operation = document["paths"][path][method]
        assert "If-Match" in _header_parameters(operation), (path, method)
        assert "412" in operation["responses"], (path, method)


def test_single_campaign_answers_document_their_etag(document):
    base = "/api/v1/tenant/campaigns"
    for path, method, status in [(base + "/{campaign_id}", "get", "200"),
                                 (base + "/{campaign_id}", "patch", "200"),
                                 (base + "/{campaign_id}/send", "post", "200"),
                                 (base, "post", "201")]:
        assert "ETag" in document["paths"][path][method]["responses"][status]["headers"]


def test_tenant_operations_document_429_and_503(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS and path.startswith("/api/v1/tenant/"):
                assert {"429", "503"} <= set(operation["responses"]), (path, method)


def test_only_the_rate_limited_routes_document_429(document, mail_document):
    # The documentation follows the rule the limit itself follows: its prefix.
    from app.api.limits import LIMITED_PREFIX
    checked = 0
    for path, item in both_paths(document, mail_document).items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            limited = path.startswith(LIMITED_PREFIX)
            assert ("429" in operation["responses"]) == limited, (path, method)
            if not limited:
                checked += 1
    assert checked >= 3  # health, tracking and inbound routes


# ---- response headers ----------------------------------------------------------------

OUR_HEADERS = ("X-Request-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining",
               "X-RateLimit-Reset", "Retry-After", "Idempotent-Replayed", "ETag")


def documented_headers(document, path, method, status):
    responses = document["paths"][path][method]["responses"]
    response = resolve(document, responses.get(str(status), responses["default"]))
    return {name: resolve(document, header)
            for name, header in response.get("headers", {}).items()}


def test_every_header_we_send_is_documented_for_its_response(api, client, create_campaign,
                                                             document):
    campaign_id = create_campaign()["id"]
    body = {"workspace_slug": "acme-corp", "name": "Once"}
    idempotent = {"Idempotency-Key": "headers-doc-1"}
    exchanges = [
        ("/api/v1/tenant/campaigns", "get", api.get(f"{BASE}?workspace=acme-corp")),
        ("/api/v1/tenant/campaigns/{campaign_id}", "get", api.get(f"{BASE}/{campaign_id}")),
        ("/api/v1/tenant/campaigns/{campaign_id}", "get", api.get(f"{BASE}/cmp_nope")),
        ("/api/v1/tenant/campaigns", "post", api.post(BASE, json=body, headers=idempotent)),
        ("/api/v1/tenant/campaigns", "post", api.post(BASE, json=body, headers=idempotent)),
        ("/healthz", "get", client.get("/healthz")),
    ]
    assert exchanges[4][2].headers.get("Idempotent-Replayed") == "true"
    for path, method, response in exchanges:
        sent = {name for name in OUR_HEADERS if name in response.headers}
        assert "X-Request-ID" in sent
        documented = documented_headers(document, path, method, response.status_code)
        assert sent <= set(documented), (path, method, response.status_code,
                                          sent - set(documented))
        for name in sent - {"ETag", "X-Request-ID"}:
            kind = documented[name]["schema"]["type"]
            value = response.headers[name]
            assert (value.isdigit() if kind == "integer" else value == "true"), (name, value)


def test_refusals_document_when_to_come_back(document):
    for status, names in ((429, {"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining",
                                 "X-RateLimit-Reset"}), (503, {"Retry-After"})):
        headers = documented_headers(document, "/api/v1/tenant/campaigns", "get", status)
        assert names <= set(headers), status


# ---- the interactive docs --------------------------------------------------------------

def test_the_docs_page_loads_swagger_ui_from_this_server(client):
    import re
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.get_data(as_text=True))
    assert len(assets) >= 2
    for url in assets:
        assert url.startswith("/api/v1/docs/assets/"), url  # no CDN: works offline
        asset = client.get(url)
        assert asset.status_code == 200 and asset.data, url
        # The files change only with the package: browsers keep them for a day.
        assert asset.cache_control.max_age == 86400, url
        asset.close()


@pytest.mark.parametrize("name", ["../../../app/config.py", "nope.js", "..%2f..%2fsetup.cfg"])
def test_docs_assets_serve_nothing_else(client, name):
    response = client.get(f"/api/v1/docs/assets/{name}")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
