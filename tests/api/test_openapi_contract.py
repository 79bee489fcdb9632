"""The OpenAPI documents say what a client needs, for every route there is and will be.

Written over whatever the documents hold, not a list of today's routes: an operation added
later without an operationId, a description, described parameters or a named enum fails
here, and so does an error code raised anywhere in app/ that the error list does not give.
"""
import ast
import pathlib
import re

import pytest

import app as app_package
from app import errors as app_errors
from app.api import MAIL_DOCUMENT
from app.api.core.errors import HTTP_CODES
from app.api.core.schemas import ERROR_CODES
from app.api.openapi import ENUMS

CLIENT_DOCUMENT = "/api/v1/openapi.json"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
OPERATION_ID = re.compile(r"^[a-z][a-zA-Z0-9]*$")
# Routes that serve the documents themselves and Swagger UI.
UNDOCUMENTED_ENDPOINTS = {"static", "api-docs.openapi_json", "api-docs.openapi_swagger_ui",
                          "mail_openapi_json", "swagger_ui_assets"}
# Raised by the command line's tenant and key management only (app/cli.py); no route
# reaches them.
CLI_ONLY_CODES = {"tenant_not_found", "key_not_found", "workspace_exists"}
# The fallback for an HTTP status HTTP_CODES has no code for.
FALLBACK_CODES = {"http_error"}


@pytest.fixture
def documents(client):
    return {path: client.get(path).json for path in (CLIENT_DOCUMENT, MAIL_DOCUMENT)}


@pytest.fixture
def document(documents):
    return documents[CLIENT_DOCUMENT]


def operations(documents):
    for name, document in documents.items():
        for path, item in document["paths"].items():
            for method, operation in item.items():
                if method in HTTP_METHODS:
                    yield name, f"{method.upper()} {path}", item, operation


def walk(node):
    """Every dict anywhere in a document."""
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            yield item
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def test_every_operation_has_a_unique_operation_id(documents):
    ids = [(operation.get("operationId"), label)
           for _, label, _, operation in operations(documents)]
    assert [label for operation_id, label in ids
            if not (operation_id and OPERATION_ID.match(operation_id))] == []
    seen = [operation_id for operation_id, _ in ids]
    assert sorted({i for i in seen if seen.count(i) > 1}) == []


def test_the_campaign_and_lead_operations_have_the_ids_clients_know(document):
    ids = {operation["operationId"] for _, _, _, operation in operations({"": document})}
    assert {"listCampaigns", "createCampaign", "getCampaign", "updateCampaign",
            "deleteCampaign", "sendCampaignAction", "listLeads", "addLeads",
            "deleteLead"} <= ids


def test_every_operation_has_a_summary_and_a_description(documents):
    missing = [label for _, label, _, operation in operations(documents)
               if not (operation.get("summary") and operation.get("description"))]
    assert missing == []


def test_every_parameter_has_a_description(documents):
    missing = []
    for _, label, item, operation in operations(documents):
        for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
            if not parameter.get("description"):
                missing.append(f"{label} {parameter['in']}:{parameter['name']}")
    assert missing == []


def test_every_schema_and_enum_has_a_description(documents):
    missing = [f"{path} {name}" for path, document in documents.items()
               for name, schema in document["components"]["schemas"].items()
               if not schema.get("description")]
    assert missing == []


def test_every_json_request_body_has_an_example(documents):
    missing = []
    for _, label, _, operation in operations(documents):
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content and "example" not in content["application/json"]:
            missing.append(label)
    assert missing == []


def test_every_string_enum_is_a_named_component(documents):
    """One class per set of choices in a generated client: the enum is a component,
    referenced by inputs and answers alike, never written out in place."""
    for path, document in documents.items():
        components = document["components"]["schemas"]
        inline = [node["enum"] for node in walk(document["paths"]) if "enum" in node]
        inline += [node["enum"] for name, schema in components.items() if name not in ENUMS
                   for node in walk(schema)
                   if "enum" in node and any(isinstance(v, str) for v in node["enum"])]
        assert inline == [], path
        for name in set(components) & set(ENUMS):
            assert components[name]["enum"] == list(ENUMS[name][0]), name


def test_the_same_enum_serves_requests_and_answers(document):
    schemas = document["components"]["schemas"]

    def refers(schema, name):
        return any(node.get("$ref") == f"#/components/schemas/{name}" for node in walk(schema))

    for name, request, answer in [("CampaignGoal", "CampaignCreate", "CampaignSummary"),
                                  ("CampaignAction", "Send", "CampaignDetail"),
                                  ("Weekday", "Schedule", "ScheduleOut"),
                                  ("DelayUnit", "Step", "StepOut"),
                                  ("ServerSecurity", "MailboxSmtpIn", "ServerOut")]:
        assert refers(schemas[request], name) and refers(schemas[answer], name), name
    status = [p for p in document["paths"]["/api/v1/tenant/campaigns"]["get"]["parameters"]
              if p["name"] == "status"]
    assert status[0]["schema"] == {"$ref": "#/components/schemas/CampaignStatus"}


def test_no_component_is_unused(documents):
    for path, document in documents.items():
        referenced = {node["$ref"].rpartition("/")[2] for node in walk(document)
                      if isinstance(node.get("$ref"), str)}
        for section in ("schemas", "responses", "headers"):
            unused = set(document["components"].get(section, {})) - referenced
            assert unused == set(), (path, section)


def test_the_lead_input_is_typed(document):
    schemas = document["components"]["schemas"]
    items = schemas["LeadsAdd"]["properties"]["leads"]["items"]
    assert items == {"$ref": "#/components/schemas/LeadIn"}
    lead = schemas["LeadIn"]
    assert lead["required"] == ["email"]
    assert set(lead["properties"]) == {"email", "first_name", "last_name", "company",
                                       "custom_fields"}


def test_fields_with_a_default_are_not_required_on_input(documents):
    for path, document in documents.items():
        for name, schema in document["components"]["schemas"].items():
            for field, prop in schema.get("properties", {}).items():
                if "default" in prop:
                    assert field not in schema.get("required", []), (path, name, field)


def test_documents_name_their_servers_license_and_contact(documents):
    for document in documents.values():
        assert document["servers"] and document["servers"][0]["url"]
        assert document["info"]["license"]["name"]
        assert document["info"]["contact"]["name"]


def test_every_operation_but_the_health_checks_documents_a_4xx(documents):
    # What Redocly's operation-4xx-response would check (turned off in redocly.yaml for
    # the health checks, which answer 200 or 503 and nothing else).
    missing = [label for _, label, _, operation in operations(documents)
               if not any(s.startswith("4") for s in operation["responses"])
               and not label.endswith(("/healthz", "/readyz"))]
    assert missing == []


def test_every_route_is_in_exactly_one_document(app, documents):
    def openapi_path(rule):
        return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)

    client_paths = set(documents[CLIENT_DOCUMENT]["paths"])
    mail_paths = set(documents[MAIL_DOCUMENT]["paths"])
    assert client_paths.isdisjoint(mail_paths)
    for rule in app.url_map.iter_rules():
        if rule.endpoint in UNDOCUMENTED_ENDPOINTS:
            continue
        path = openapi_path(rule)
        assert path in client_paths | mail_paths, path
        documented = {**documents[CLIENT_DOCUMENT]["paths"],
                      **documents[MAIL_DOCUMENT]["paths"]}[path]
        assert {m.lower() for m in rule.methods} - {"head", "options"} <= set(documented), path


def test_the_routes_mail_reaches_are_not_in_the_client_document(documents):
    client_paths = documents[CLIENT_DOCUMENT]["paths"]
    assert not [p for p in client_paths if p.startswith(("/t/", "/u/", "/api/v1/inbound"))]
    assert {"/t/o/{token}.gif", "/t/c/{token}", "/u/{token}",
            "/api/v1/inbound/email"} <= set(documents[MAIL_DOCUMENT]["paths"])


# ---- error codes ----------------------------------------------------------------------

def _app_error_statuses():
    statuses, pending = {}, [app_errors.AppError]
    while pending:
        cls = pending.pop()
        statuses[cls.__name__] = cls.status
        pending.extend(cls.__subclasses__())
    return statuses


def raised_codes():
    """Every error code app/ can answer with, and its status where the code shows it: a
    ``code=`` given to an AppError, an AppError's own ``code``, a ``code`` assigned with
    a literal, HTTP_CODES and error_body()."""
    import app.api  # noqa: F401 - every module with an AppError subclass is imported
    import app.cli  # noqa: F401
    statuses = _app_error_statuses()
    found = {code: status for status, (code, _) in HTTP_CODES.items()}
    root = pathlib.Path(app_package.__file__).parent
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                for keyword in node.keywords:
                    if keyword.arg == "code" and isinstance(keyword.value, ast.Constant) \
                            and isinstance(keyword.value.value, str):
                        found[keyword.value.value] = statuses.get(name)
                if name == "error_body" and isinstance(node.args[1], ast.Constant):
                    found[node.args[1].value] = node.args[0].value
            elif isinstance(node, ast.ClassDef) and node.name in statuses:
                for item in node.body:
                    if (isinstance(item, ast.Assign) and [getattr(t, "id", None)
                                                          for t in item.targets] == ["code"]):
                        found[item.value.value] = statuses[node.name]
            elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple):
                names = [getattr(t, "id", None) for t in node.targets[0].elts]
                if "code" in names and isinstance(node.value, ast.Tuple):
                    value = node.value.elts[names.index("code")]
                    if isinstance(value, ast.Constant):
                        found.setdefault(value.value, None)
    return found


def test_every_error_code_the_app_raises_is_documented_with_its_status():
    raised = {code: status for code, status in raised_codes().items()
              if code not in CLI_ONLY_CODES}
    assert set(raised) == set(ERROR_CODES) - FALLBACK_CODES
    wrong = {code: (status, ERROR_CODES[code][0]) for code, status in raised.items()
             if status is not None and status != ERROR_CODES[code][0]}
    assert wrong == {}
    assert CLI_ONLY_CODES.isdisjoint(ERROR_CODES)


def test_the_error_body_lists_every_code_with_its_meaning(document):
    text = document["components"]["schemas"]["ErrorBody"]["properties"]["code"]["description"]
    for code, (_, meaning) in ERROR_CODES.items():
        assert f"`{code}`" in text and meaning in text, code


def test_each_shared_error_response_names_its_codes(document):
    responses = document["components"]["responses"]
    assert "`campaign_not_found`" in responses["NOT_FOUND"]["description"]
    assert "`workspace_not_found`" in responses["NOT_FOUND"]["description"]
    assert "`start_blocked`" in responses["CONFLICT"]["description"]
    assert "`validation_error`" in responses["UNPROCESSABLE_ENTITY"]["description"]
