"""Health checks, the database going away, and the request log (one JSON line, no secrets)."""
import logging

import pytest

from app import create_app, database
from app.api.requestlog import JsonFormatter
from app.models import new_id
from app.services import campaigns, leads
from tests.config import TestConfig
from tests.conftest import BASE, STEP, Tenant

# Nothing listens on port 1: connecting fails at once, as with a stopped database.
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/unreachable"
INBOUND = "/api/v1/inbound/email"
INBOUND_SECRET = "inbound-secret-never-logged-4d1c"


def assert_error(response, status, code):
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert set(response.json) == {"success", "error"}
    assert response.json["success"] is False
    assert response.json["error"]["code"] == code
    assert set(response.json["error"]) == {"code", "message", "details"}
    assert "Traceback" not in response.get_data(as_text=True)


def unreachable_app(**overrides):
    return create_app(TestConfig(DATABASE_URL=UNREACHABLE, **overrides))


@pytest.fixture
def down(db_url):
    """A client of an app whose database cannot be reached (bound after the test's own)."""
    app = unreachable_app()
    bound = database.db.obj
    yield app.test_client()
    bound.close_all()


# ---- /healthz and /readyz -------------------------------------------------------------

def test_healthz_is_200(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"success": True, "data": {"status": "ok"}}


def test_healthz_is_200_when_the_database_is_unreachable(down):
    response = down.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"success": True, "data": {"status": "ok"}}


def test_the_api_documents_are_served_when_the_database_is_unreachable(down):
    for path in ("/api/v1/openapi.json", "/api/v1/docs",
                 "/api/v1/docs/assets/swagger-ui.css"):
        response = down.get(path)
        assert response.status_code == 200, path
        response.close()


def test_readyz_is_200_when_the_database_answers(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json == {"success": True, "data": {"status": "ready"}}


def test_readyz_is_503_in_the_envelope_when_the_database_is_unreachable(down):
    response = down.get("/readyz")

    assert_error(response, 503, "database_unavailable")
    assert int(response.headers["Retry-After"]) > 0


def test_health_checks_need_no_key(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


# ---- the database going away ----------------------------------------------------------

def test_tenant_route_is_503_with_retry_after_when_the_database_is_unreachable(down):
    response = down.get(f"{BASE}?workspace=acme-corp",
                        headers={"Authorization": "Bearer sk_live_whatever"})

    assert_error(response, 503, "database_unavailable")
    assert int(response.headers["Retry-After"]) > 0


def test_write_is_503_with_retry_after_when_the_database_is_unreachable(down):
    response = down.post(BASE, json={"workspace_slug": "acme-corp", "name": "X"},
                         headers={"Authorization": "Bearer sk_live_whatever",
                                  "Idempotency-Key": "down-1"})

    assert_error(response, 503, "database_unavailable")
    assert int(response.headers["Retry-After"]) > 0


def test_inbound_is_503_with_retry_after_when_the_database_is_unreachable(db_url):
    app = unreachable_app(INBOUND_SECRET=INBOUND_SECRET)
    bound = database.db.obj

    response = app.test_client().post(INBOUND, data=b"Subject: x\r\n\r\nhi",
                                      content_type="message/rfc822",
                                      headers={"Authorization": f"Bearer {INBOUND_SECRET}"})

    bound.close_all()
    assert_error(response, 503, "database_unavailable")
    assert int(response.headers["Retry-After"]) > 0


def test_database_unreachable_logs_no_traceback_and_no_key(down, caplog):
    secret = "sk_live_" + new_id("x")
    caplog.set_level(logging.DEBUG)

    down.get(f"{BASE}?workspace=acme-corp", headers={"Authorization": f"Bearer {secret}"})

    assert not any(record.exc_info for record in caplog.records)
    assert secret not in caplog.text


# ---- the access log -------------------------------------------------------------------

REQUESTS = [
    ("get", "/healthz", {}, 200),
    ("get", "/readyz", {}, 200),
    ("get", BASE + "?workspace=acme-corp", {"auth": True}, 200),
    ("post", BASE, {"auth": True, "json": {"workspace_slug": "acme-corp", "name": "X"}}, 201),
    ("post", BASE, {"auth": True, "json": {"name": ""}}, 422),
    ("post", BASE, {"auth": True, "data": b"{", "content_type": "application/json"}, 400),
    ("get", BASE + "?workspace=acme-corp", {}, 401),
    ("get", BASE + "/cmp_nope", {"auth": True}, 404),
    ("get", "/api/v1/nowhere", {}, 404),
    ("put", BASE, {"auth": True}, 405),
]


@pytest.mark.parametrize("method, path, options, status", REQUESTS,
                         ids=[f"{r[0]} {r[1]} {r[3]}" for r in REQUESTS])
def test_every_request_logs_exactly_one_json_line(client, tenant, access_log,
                                                  method, path, options, status):
    options = dict(options)
    if options.pop("auth", False):
        options["headers"] = tenant.headers

    response = getattr(client, method)(path, **options)

    assert response.status_code == status
    assert len(access_log) == 1
    line = access_log[0]
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert (line["method"], line["path"], line["status"]) == (method.upper(),
                                                                path.split("?")[0], status)
    assert line["logger"] == "app.access"


def test_a_500_logs_one_access_line_with_status_500(monkeypatch, api, tenant, access_log):
    monkeypatch.setattr(campaigns, "list_campaigns", lambda *a, **k: 1 / 0)

    response = api.get(f"{BASE}?workspace={tenant.slug}")

    assert response.status_code == 500
    assert [(line["status"], line["request_id"]) for line in access_log] == [
        (500, response.headers["X-Request-ID"])]


def test_a_503_logs_one_access_line_with_status_503(down, access_log):
    response = down.get(f"{BASE}?workspace=acme-corp",
                        headers={"Authorization": "Bearer sk_live_whatever"})

    assert [line["status"] for line in access_log] == [503]
    assert access_log[0]["request_id"] == response.headers["X-Request-ID"]


def test_a_413_logs_one_access_line(make_app, access_log):
    app = make_app(MAX_CONTENT_LENGTH=100)
    bound = database.db.obj
    with database.connection():
        tenant = Tenant("Acme", "acme-corp")

    response = app.test_client().post(BASE, data=b"x" * 200, content_type="application/json",
                                      headers=tenant.headers)

    if hasattr(bound, "close_all"):
        bound.close_all()
    assert response.status_code == 413
    assert [line["status"] for line in access_log] == [413]


def test_access_line_names_the_tenant(api, tenant, access_log):
    api.get(f"{BASE}?workspace={tenant.slug}")

    assert access_log[0]["tenant"] == tenant.model.id


# ---- request ids ----------------------------------------------------------------------

def test_request_id_is_echoed_when_given(client, access_log):
    response = client.get("/healthz", headers={"X-Request-ID": "req-abc.123:xyz"})

    assert response.headers["X-Request-ID"] == "req-abc.123:xyz"
    assert access_log[0]["request_id"] == "req-abc.123:xyz"


def test_request_id_is_made_when_not_given(client, access_log):
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]

    assert len(first) >= 16 and first != second
    assert [line["request_id"] for line in access_log] == [first, second]


def test_request_id_is_on_error_answers_too(client):
    response = client.get(f"{BASE}?workspace=acme-corp", headers={"X-Request-ID": "err-1"})

    assert response.status_code == 401
    assert response.headers["X-Request-ID"] == "err-1"


@pytest.mark.parametrize("given", ["a b", "x" * 129, "<script>", "id\u00e9", ""],
                         ids=["space", "too-long", "markup", "non-ascii", "empty"])
def test_unsafe_request_id_is_replaced_not_echoed(client, access_log, given):
    response = client.get("/healthz", headers={"X-Request-ID": given})

    made = response.headers["X-Request-ID"]
    assert made and made != given
    assert access_log[0]["request_id"] == made


# ---- nothing secret in any log --------------------------------------------------------

@pytest.fixture
def every_record(make_app, caplog):
    """An app run with LOG_LEVEL=DEBUG, and every record any logger makes meanwhile.

    SQL stays at WARNING whatever LOG_LEVEL says (its parameters are lead data), which
    the first test below holds to.
    """
    app = make_app(LOG_LEVEL="DEBUG", INBOUND_SECRET=INBOUND_SECRET)
    bound = database.db.obj
    caplog.set_level(logging.DEBUG)
    yield app
    if hasattr(bound, "close_all"):
        bound.close_all()


def everything_logged(caplog):
    """All a handler could print of each record: message, arguments, extras, traceback."""
    formatter = JsonFormatter()
    texts = []
    for record in caplog.records:
        texts.append(formatter.format(record))
        texts.append(repr(record.__dict__))
    return "\n".join(texts)


def test_sql_and_its_parameters_are_not_logged_even_at_debug(every_record, caplog):
    with database.connection():
        tenant = Tenant("Acme", "acme-corp")

    response = every_record.test_client().post(
        BASE, json={"workspace_slug": tenant.slug, "name": "Quiet"}, headers=tenant.headers)

    assert response.status_code == 201
    assert [r for r in caplog.records if r.name.startswith("peewee")] == []
    assert any(r.name == "app.access" for r in caplog.records)


def test_no_key_secret_lead_or_body_reaches_any_log(every_record, caplog):
    with database.connection():
        tenant = Tenant("Acme", "acme-corp")
    client = every_record.test_client()
    auth = {**tenant.headers, "X-Request-ID": "logs-1"}
    lead_email = "ada.lovelace.private@example.com"
    template = "Confidential offer for {{ firstName }}: code PINEAPPLE-7731"
    inbound_body = b"Subject: Re: offer\r\n\r\nMy phone is 555-0199, call me."

    created = client.post(BASE, json={"workspace_slug": tenant.slug, "name": "Q4"},
                          headers={**auth, "Idempotency-Key": "logs-key"})
    campaign_id = created.json["data"]["id"]
    assert client.patch(f"{BASE}/{campaign_id}", headers=auth, json={
        "sequence": [{"subject": "Hi", "body": template}]}).status_code == 200
    assert client.post(f"{BASE}/{campaign_id}/leads", headers=auth, json={
        "leads": [{"email": lead_email, "first_name": "Ada"}]}).status_code == 200
    assert client.patch(f"{BASE}/{campaign_id}", headers=auth, json={
        "sequence": [{"subject": "Hi", "body": template + "{% if %}"}]}).status_code == 422
    assert client.get(f"{BASE}?workspace={tenant.slug}",
                      headers={"Authorization": f"Bearer {tenant.secret}x"}).status_code == 401
    assert client.post(INBOUND, data=inbound_body, content_type="message/rfc822", headers={
        "Authorization": f"Bearer {INBOUND_SECRET}"}).status_code == 200
    assert client.post(INBOUND, data=inbound_body, content_type="message/rfc822", headers={
        "Authorization": f"Bearer {INBOUND_SECRET}-wrong"}).status_code == 401

    logged = everything_logged(caplog)
    assert f"/campaigns/{campaign_id}/leads" in logged  # the capture saw the requests
    for secret in (tenant.secret, tenant.secret[12:], INBOUND_SECRET, lead_email,
                   "PINEAPPLE-7731", "555-0199", "Bearer"):
        assert secret not in logged, secret


def test_no_secret_reaches_the_log_when_a_request_fails_with_a_500(every_record, caplog,
                                                                   monkeypatch):
    with database.connection():
        tenant = Tenant("Acme", "acme-corp")
    client = every_record.test_client()
    created = client.post(BASE, json={"workspace_slug": tenant.slug, "name": "Q4"},
                          headers=tenant.headers)

    def explode(*args, **kwargs):
        raise RuntimeError("lead insert failed")
    monkeypatch.setattr(leads, "add_leads", explode)

    response = client.post(f"{BASE}/{created.json['data']['id']}/leads",
                           headers=tenant.headers,
                           json={"leads": [{"email": "hidden.person@example.com"}]})

    assert response.status_code == 500
    logged = everything_logged(caplog)
    assert "lead insert failed" in logged  # the failure itself is logged
    assert "hidden.person@example.com" not in logged
    assert tenant.secret not in logged


def test_step_template_error_answer_is_not_logged(every_record, caplog):
    with database.connection():
        tenant = Tenant("Acme", "acme-corp")
    client = every_record.test_client()
    created = client.post(BASE, json={"workspace_slug": tenant.slug, "name": "Q4"},
                          headers=tenant.headers)

    client.patch(f"{BASE}/{created.json['data']['id']}", headers=tenant.headers,
                 json={"sequence": [dict(STEP, body="SECRET-BODY-42 {{ oops")]})

    assert "SECRET-BODY-42" not in everything_logged(caplog)
