"""Odd and hostile input: a 4xx in the error envelope every time, never a 500 or a traceback.

Text that looks like SQL or HTML is data: stored and returned exactly as sent.
"""
import json

import pytest

from app import database
from app.models import Campaign, Lead
from tests.conftest import BASE

INBOUND = "/api/v1/inbound/email"
INBOUND_SECRET = "inbound-secret-for-bad-input"
MIB = 1024 * 1024

SQL = "Robert'); DROP TABLE campaign; --"
SQL_LEAD = "O'Brien\" OR 1=1; DELETE FROM lead WHERE '1'='1"
HTML = '<script>alert("pwned")</script><img src=x onerror=alert(1)> &amp; &lt;'


def assert_error(response, status, code=None):
    """The error envelope, a JSON body and no trace of our insides."""
    text = response.get_data(as_text=True)
    assert response.status_code == status, text
    assert response.mimetype == "application/json"
    body = json.loads(text)
    assert set(body) == {"success", "error"}
    assert body["success"] is False
    assert set(body["error"]) == {"code", "message", "details"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    assert "Traceback" not in text
    assert 'File "' not in text
    return body["error"]


def campaigns():
    with database.connection():
        return Campaign.select().count()


def leads_of(campaign_id):
    with database.connection():
        return Lead.select().where(Lead.campaign == campaign_id).count()


def raw(api, method, url, data, content_type="application/json", **kwargs):
    return getattr(api, method)(url, data=data, content_type=content_type, **kwargs)


def padded_create(slug, size):
    """A create body of exactly ``size`` bytes, padded with an unknown field."""
    head = {"workspace_slug": slug, "name": "Padded", "goal": "lead_gen"}
    text = json.dumps(head)
    body = (text[:-1] + ', "pad": "' + "x" * (size - len(text) - 11) + '"}').encode()
    assert len(body) == size
    return body


@pytest.fixture
def campaign_id(create_campaign):
    return create_campaign()["id"]


# ---- body size ------------------------------------------------------------------------

def test_body_over_one_mebibyte_is_413_in_the_envelope(api, tenant):
    response = raw(api, "post", BASE, padded_create(tenant.slug, MIB + 1))

    error = assert_error(response, 413, "payload_too_large")
    assert error["details"] == {"max_bytes": MIB}
    assert campaigns() == 0


def test_body_of_one_mebibyte_is_not_refused_for_its_size(api, tenant):
    response = raw(api, "post", BASE, padded_create(tenant.slug, MIB))

    # Read and judged on its fields: the padding is an unknown field.
    error = assert_error(response, 422, "validation_error")
    assert error["details"]["fields"] == {"pad": ["Not a known field; check its spelling."]}


def test_leads_body_over_the_limit_is_413_and_adds_nothing(api, campaign_id):
    lead = {"email": "someone@example.com", "company": "x" * 150}
    leads = [dict(lead, email=f"lead{i}@example.com") for i in range(6000)]
    body = json.dumps({"leads": leads}).encode()
    assert len(body) > MIB

    response = raw(api, "post", f"{BASE}/{campaign_id}/leads", body)

    assert_error(response, 413, "payload_too_large")
    assert leads_of(campaign_id) == 0


def test_oversized_body_with_an_idempotency_key_is_413(api, tenant):
    response = raw(api, "post", BASE, padded_create(tenant.slug, MIB + 1),
                   headers={"Idempotency-Key": "big-1"})

    assert_error(response, 413, "payload_too_large")
    assert campaigns() == 0


@pytest.fixture
def small_app(make_app):
    app = make_app(MAX_CONTENT_LENGTH=1000, INBOUND_SECRET=INBOUND_SECRET)
    bound = database.db.obj
    yield app
    if hasattr(bound, "close_all"):
        bound.close_all()


@pytest.fixture
def small_api(small_app):
    """A tenant and its client on an app whose MAX_CONTENT_LENGTH is 1000 bytes."""
    from tests.conftest import Tenant
    with database.connection():
        tenant = Tenant("Small", "small-co")
    client = small_app.test_client()

    class Api:
        slug = tenant.slug

        def __getattr__(self, method):
            def call(url, **kwargs):
                headers = {**tenant.headers, **kwargs.pop("headers", {})}
                return getattr(client, method)(url, headers=headers, **kwargs)
            return call
    return Api()


def test_configured_limit_refuses_one_byte_over_with_413(small_api):
    response = raw(small_api, "post", BASE, padded_create(small_api.slug, 1001))

    error = assert_error(response, 413, "payload_too_large")
    assert error["details"] == {"max_bytes": 1000}
    assert campaigns() == 0


def test_configured_limit_lets_a_body_at_the_limit_through(small_api):
    response = raw(small_api, "post", BASE, padded_create(small_api.slug, 1000))

    assert_error(response, 422, "validation_error")


def test_configured_limit_applies_to_patch(small_api):
    created = small_api.post(BASE, json={"workspace_slug": small_api.slug, "name": "Small"})
    campaign_id = created.json["data"]["id"]

    response = small_api.patch(f"{BASE}/{campaign_id}", json={
        "sequence": [{"subject": "Hi", "body": "x" * 1200}]})

    assert_error(response, 413, "payload_too_large")
    assert small_api.get(f"{BASE}/{campaign_id}").json["data"]["sequence"] == []


def test_configured_limit_applies_to_inbound_mail(small_app):
    message = b"From: a@example.com\r\nSubject: big\r\n\r\n" + b"x" * 1200

    response = small_app.test_client().post(
        INBOUND, data=message, content_type="message/rfc822",
        headers={"Authorization": f"Bearer {INBOUND_SECRET}"})

    assert_error(response, 413, "payload_too_large")


# ---- content types --------------------------------------------------------------------

WRONG_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/xml",
    "text/json",
    "application/jsonp",
]


@pytest.mark.parametrize("content_type", WRONG_TYPES)
def test_create_with_a_non_json_content_type_is_415(api, tenant, content_type):
    body = json.dumps({"workspace_slug": tenant.slug, "name": "X"}).encode()

    response = raw(api, "post", BASE, body, content_type=content_type)

    assert_error(response, 415, "unsupported_media_type")
    assert campaigns() == 0


def test_create_without_a_content_type_is_415(api, tenant):
    body = json.dumps({"workspace_slug": tenant.slug, "name": "X"}).encode()

    response = api.post(BASE, data=body)

    assert_error(response, 415, "unsupported_media_type")
    assert campaigns() == 0


@pytest.mark.parametrize("content_type", WRONG_TYPES)
def test_patch_with_a_non_json_content_type_is_415_and_changes_nothing(
        api, campaign_id, content_type):
    response = raw(api, "patch", f"{BASE}/{campaign_id}", b'{"name": "Changed"}',
                   content_type=content_type)

    assert_error(response, 415, "unsupported_media_type")
    assert api.get(f"{BASE}/{campaign_id}").json["data"]["name"] == "Q4 Outreach"


def test_send_with_a_non_json_content_type_is_415(api, ready_campaign):
    campaign_id = ready_campaign()["id"]

    response = raw(api, "post", f"{BASE}/{campaign_id}/send", b'{"action": "start"}',
                   content_type="text/plain")

    assert_error(response, 415, "unsupported_media_type")
    assert api.get(f"{BASE}/{campaign_id}").json["data"]["status"] == "draft"


def test_leads_with_a_non_json_content_type_is_415(api, campaign_id):
    response = raw(api, "post", f"{BASE}/{campaign_id}/leads",
                   b'{"leads": [{"email": "a@example.com"}]}', content_type="text/csv")

    assert_error(response, 415, "unsupported_media_type")
    assert leads_of(campaign_id) == 0


def test_inbound_with_a_json_content_type_is_415(small_app):
    response = small_app.test_client().post(
        INBOUND, json={"from": "a@example.com"},
        headers={"Authorization": f"Bearer {INBOUND_SECRET}"})

    assert_error(response, 415, "unsupported_media_type")


def test_json_suffix_content_type_is_accepted(api, campaign_id):
    response = raw(api, "patch", f"{BASE}/{campaign_id}", b'{"name": "Merged"}',
                   content_type="application/merge-patch+json")

    assert response.status_code == 200
    assert response.json["data"]["name"] == "Merged"


# ---- bodies that are not JSON ---------------------------------------------------------

NOT_JSON = {
    "truncated": b'{"workspace_slug": "acme-corp", "name": ',
    "single_quotes": b"{'workspace_slug': 'acme-corp', 'name': 'X'}",
    "trailing_comma": b'{"workspace_slug": "acme-corp", "name": "X",}',
    "raw_control_character": b'{"workspace_slug": "acme-corp", "name": "a\x01b"}',
    "raw_nul_byte": b'{"workspace_slug": "acme-corp", "name": "a\x00b"}',
    "invalid_utf8": b'{"workspace_slug": "acme-corp", "name": "caf\xc3"}',
    "latin1_bytes": b'{"workspace_slug": "acme-corp", "name": "caf\xe9"}',
    "overlong_utf8": b'{"workspace_slug": "acme-corp", "name": "\xc0\xaf"}',
    "lone_surrogate_bytes": b'{"workspace_slug": "acme-corp", "name": "\xed\xa0\x80"}',
    "two_documents": b'{"name": "X"} {"name": "Y"}',
}


@pytest.mark.parametrize("body", NOT_JSON.values(), ids=NOT_JSON.keys())
def test_create_with_a_body_that_is_not_json_is_400(api, tenant, body):
    response = raw(api, "post", BASE, body)

    assert_error(response, 400, "invalid_json")
    assert campaigns() == 0


@pytest.mark.parametrize("body", NOT_JSON.values(), ids=NOT_JSON.keys())
def test_patch_with_a_body_that_is_not_json_is_400_and_changes_nothing(
        api, campaign_id, body):
    response = raw(api, "patch", f"{BASE}/{campaign_id}", body)

    assert_error(response, 400, "invalid_json")
    assert api.get(f"{BASE}/{campaign_id}").json["data"]["version"] == 1


def test_leads_with_invalid_utf8_is_400(api, campaign_id):
    response = raw(api, "post", f"{BASE}/{campaign_id}/leads",
                   b'{"leads": [{"email": "a@example.com", "first_name": "\xff"}]}')

    assert_error(response, 400, "invalid_json")
    assert leads_of(campaign_id) == 0


def test_invalid_utf8_with_an_idempotency_key_is_400(api, tenant):
    response = raw(api, "post", BASE, b'{"name": "\xff"}', headers={"Idempotency-Key": "u-1"})

    assert_error(response, 400, "invalid_json")


@pytest.mark.parametrize("body", [b"null", b'"a string"', b"[]", b"42", b"true"])
def test_json_that_is_not_an_object_is_422(api, tenant, body):
    response = raw(api, "post", BASE, body)

    assert_error(response, 422, "validation_error")
    assert campaigns() == 0


# ---- deeply nested JSON ---------------------------------------------------------------

def nested(depth, opener=b"[", closer=b"]"):
    return opener * depth + closer * depth


def nested_in_name(depth):
    return b'{"workspace_slug": "acme-corp", "name": ' + nested(depth) + b"}"


@pytest.mark.parametrize("body", [
    pytest.param(nested_in_name(100), id="in-a-field-100"),
    pytest.param(nested_in_name(500), id="in-a-field-500"),
    pytest.param(nested(10_000), id="array-10000"),
    pytest.param(b'{"a":' * 10_000 + b"1" + b"}" * 10_000, id="object-10000"),
    pytest.param(nested_in_name(10_000), id="in-a-field-10000"),
])
def test_deeply_nested_json_is_a_4xx_not_a_500(api, tenant, body):
    response = raw(api, "post", BASE, body)

    assert 400 <= response.status_code < 500
    assert_error(response, response.status_code)
    assert campaigns() == 0


def test_deeply_nested_lead_is_a_4xx_not_a_500(api, campaign_id):
    body = b'{"leads": [{"email": "a@example.com", "custom_fields": ' + nested(10_000) + b"}]}"

    response = raw(api, "post", f"{BASE}/{campaign_id}/leads", body)

    assert 400 <= response.status_code < 500
    assert_error(response, response.status_code)
    assert leads_of(campaign_id) == 0


def test_deeply_nested_json_with_an_idempotency_key_is_a_4xx(api, tenant):
    response = raw(api, "post", BASE, nested(10_000), headers={"Idempotency-Key": "deep"})

    assert 400 <= response.status_code < 500
    assert_error(response, response.status_code)


# ---- huge numbers ---------------------------------------------------------------------

def test_huge_daily_limit_is_422(api, campaign_id):
    response = api.patch(f"{BASE}/{campaign_id}", json={"settings": {"daily_limit": 10**100}})

    error = assert_error(response, 422, "validation_error")
    assert "daily_limit" in error["details"]["fields"]["settings"]
    assert api.get(f"{BASE}/{campaign_id}").json["data"]["version"] == 1


def test_number_that_overflows_to_infinity_is_400_invalid_json(api, campaign_id):
    response = raw(api, "patch", f"{BASE}/{campaign_id}", b'{"settings": {"daily_limit": 1e400}}')

    assert_error(response, 400, "invalid_json")
    assert api.get(f"{BASE}/{campaign_id}").json["data"]["version"] == 1


def test_negative_huge_delay_is_422(api, campaign_id):
    response = api.patch(f"{BASE}/{campaign_id}", json={
        "sequence": [{"subject": "Hi", "body": "Hello", "delay": -10**100}]})

    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize("param", ["limit", "offset"])
def test_huge_list_paging_numbers_are_422(api, tenant, param):
    response = api.get(f"{BASE}?workspace={tenant.slug}&{param}={10**100}")

    if param == "offset":  # a deep offset is told to page by cursor instead
        assert_error(response, 422, "offset_too_deep")
        return
    error = assert_error(response, 422, "validation_error")
    assert list(error["details"]["fields"]) == [param]


@pytest.mark.parametrize("param", ["limit", "offset"])
def test_huge_lead_paging_numbers_are_422(api, campaign_id, param):
    response = api.get(f"{BASE}/{campaign_id}/leads?{param}={10**100}")

    if param == "offset":  # a deep offset is told to page by cursor instead
        assert_error(response, 422, "offset_too_deep")
        return
    error = assert_error(response, 422, "validation_error")
    assert list(error["details"]["fields"]) == [param]


@pytest.mark.parametrize("param", ["limit", "offset"])
def test_paging_number_of_5000_digits_is_422(api, tenant, param):
    response = api.get(f"{BASE}?workspace={tenant.slug}&{param}={'9' * 5000}")

    assert_error(response, 422, "validation_error")


def test_integer_literal_of_5000_digits_in_a_body_is_a_4xx(api, campaign_id):
    body = b'{"settings": {"daily_limit": ' + b"9" * 5000 + b"}}"

    response = raw(api, "patch", f"{BASE}/{campaign_id}", body)

    assert 400 <= response.status_code < 500
    assert_error(response, response.status_code)


@pytest.mark.parametrize("literal", [b"1e400", b"NaN", b"-Infinity"])
def test_non_finite_custom_field_is_refused(api, campaign_id, literal):
    body = b'{"leads": [{"email": "a@example.com", "custom_fields": {"n": ' + literal + b"}}]}"

    response = raw(api, "post", f"{BASE}/{campaign_id}/leads", body)

    assert leads_of(campaign_id) == 0
    assert 400 <= response.status_code < 500 or response.json["data"]["added"] == 0


# ---- SQL and HTML are data ------------------------------------------------------------

@pytest.mark.parametrize("text", [SQL, HTML], ids=["sql", "html"])
def test_sql_or_html_in_a_name_is_stored_and_returned_verbatim(api, tenant, text):
    created = api.post(BASE, json={"workspace_slug": tenant.slug, "name": text})

    assert created.status_code == 201
    assert created.mimetype == "application/json"
    assert created.json["data"]["name"] == text
    fetched = api.get(f"{BASE}/{created.json['data']['id']}")
    assert fetched.json["data"]["name"] == text
    listed = api.get(f"{BASE}?workspace={tenant.slug}")
    assert [c["name"] for c in listed.json["data"]] == [text]
    with database.connection():
        assert Campaign.get_by_id(created.json["data"]["id"]).name == text


def test_sql_and_html_in_a_sequence_are_returned_verbatim(api, campaign_id):
    step = {"subject": SQL, "body": f"<p>{HTML}</p>\n{SQL}"}

    response = api.patch(f"{BASE}/{campaign_id}", json={"sequence": [step]})

    assert response.status_code == 200
    stored = api.get(f"{BASE}/{campaign_id}").json["data"]["sequence"][0]
    assert (stored["subject"], stored["body"]) == (step["subject"], step["body"])


def test_sql_and_html_in_settings_are_returned_verbatim(api, campaign_id):
    response = api.patch(f"{BASE}/{campaign_id}", json={"settings": {"from_name": HTML}})

    assert response.status_code == 200
    assert api.get(f"{BASE}/{campaign_id}").json["data"]["settings"]["from_name"] == HTML


def test_sql_and_html_in_leads_are_stored_and_listed_verbatim(api, campaign_id):
    lead = {"email": "o'brien@example.com", "first_name": SQL_LEAD, "last_name": SQL,
            "company": HTML, "custom_fields": {"note": SQL, "html": HTML}}

    added = api.post(f"{BASE}/{campaign_id}/leads", json={"leads": [lead]})

    assert added.status_code == 200
    assert added.json["data"]["added"] == 1
    listed = api.get(f"{BASE}/{campaign_id}/leads").json["data"]
    assert len(listed) == 1
    assert {k: listed[0][k] for k in lead} == lead
    with database.connection():
        assert Lead.select().where(Lead.first_name == SQL_LEAD).count() == 1


def test_sql_in_a_query_parameter_is_only_a_name_that_matches_nothing(api, tenant,
                                                                      create_campaign):
    create_campaign()

    response = api.get(f"{BASE}?workspace={tenant.slug}' OR '1'='1")

    error = assert_error(response, 404, "workspace_not_found")
    assert error["details"] == {"workspace": f"{tenant.slug}' OR '1'='1"}


def test_sql_in_a_campaign_id_is_404(api, campaign_id):
    response = api.get(f"{BASE}/{campaign_id}' OR '1'='1")

    assert_error(response, 404, "campaign_not_found")


# ---- unknown fields -------------------------------------------------------------------

@pytest.mark.parametrize("method, path, body, field", [
    ("post", "", {"workspace_slug": "acme-corp", "name": "X", "status": "active"}, "status"),
    ("patch", "/{id}", {"version": 7}, "version"),
    ("patch", "/{id}", {"id": "cmp_other"}, "id"),
    ("post", "/{id}/send", {"action": "start", "force": True}, "force"),
    ("post", "/{id}/leads", {"leads": [{"email": "a@example.com"}], "dedupe": False}, "dedupe"),
], ids=["create", "patch-version", "patch-id", "send", "leads"])
def test_unknown_top_level_field_is_422_naming_it(api, campaign_id, method, path, body, field):
    response = getattr(api, method)(BASE + path.format(id=campaign_id), json=body)

    error = assert_error(response, 422, "validation_error")
    assert error["details"]["fields"] == {field: ["Not a known field; check its spelling."]}
    assert campaigns() == 1
    assert leads_of(campaign_id) == 0
    assert api.get(f"{BASE}/{campaign_id}").json["data"]["version"] == 1


def test_unknown_settings_key_is_422(api, campaign_id):
    response = api.patch(f"{BASE}/{campaign_id}", json={"settings": {"colour": "red"}})

    error = assert_error(response, 422, "validation_error")
    assert error["details"]["fields"] == {"settings": {"colour": ["Not a known field; check its spelling."]}}


def test_unknown_step_field_is_422(api, campaign_id):
    response = api.patch(f"{BASE}/{campaign_id}", json={
        "sequence": [{"subject": "Hi", "body": "Hello", "attachments": []}]})

    error = assert_error(response, 422, "validation_error")
    assert error["details"]["fields"] == {"sequence": {"0": {"attachments": ["Not a known field; check its spelling."]}}}


def test_unknown_lead_field_marks_that_lead_invalid(api, campaign_id):
    response = api.post(f"{BASE}/{campaign_id}/leads", json={
        "leads": [{"email": "a@example.com", "phone": "555"}, {"email": "b@example.com"}]})

    assert response.status_code == 200
    assert response.json["data"]["added"] == 1
    assert response.json["data"]["invalid"] == [
        {"index": 0, "email": "a@example.com", "errors": {"phone": ["Not a known field; check its spelling."]}}]
    assert leads_of(campaign_id) == 1


def test_unknown_query_parameter_is_422(api, tenant):
    response = api.get(f"{BASE}?workspace={tenant.slug}&sort=name")

    error = assert_error(response, 422, "validation_error")
    assert error["details"]["fields"] == {"sort": ["Not a known field; check its spelling."]}


# ---- NUL characters -------------------------------------------------------------------

def test_escaped_nul_in_a_lead_name_marks_that_lead_invalid(api, campaign_id):
    response = api.post(f"{BASE}/{campaign_id}/leads", json={
        "leads": [{"email": "a@example.com", "first_name": "A\x00"}]})

    assert response.status_code == 200
    assert response.json["data"]["added"] == 0
    assert "first_name" in response.json["data"]["invalid"][0]["errors"]
    assert leads_of(campaign_id) == 0


def test_escaped_nul_in_a_custom_field_round_trips_as_data(api, campaign_id):
    added = api.post(f"{BASE}/{campaign_id}/leads", json={
        "leads": [{"email": "a@example.com", "custom_fields": {"k": "v\x00w"}}]})

    assert added.json["data"]["added"] == 1
    listed = api.get(f"{BASE}/{campaign_id}/leads").json["data"]
    assert listed[0]["custom_fields"] == {"k": "v\x00w"}


def test_escaped_nul_in_a_sequence_step_is_422(api, campaign_id):
    response = api.patch(f"{BASE}/{campaign_id}", json={
        "sequence": [{"subject": "Hi", "body": "Hello\x00"}]})

    assert_error(response, 422, "validation_error")
    assert api.get(f"{BASE}/{campaign_id}").json["data"]["sequence"] == []


def test_nul_in_an_idempotency_key_is_400(api, tenant):
    response = api.post(BASE, json={"workspace_slug": tenant.slug, "name": "X"},
                        headers={"Idempotency-Key": "a\x00b"})

    assert_error(response, 400, "invalid_idempotency_key")
    assert campaigns() == 0


def test_nul_in_a_lead_id_is_404(api, campaign_id):
    response = api.delete(f"{BASE}/{campaign_id}/leads/lead_%00")

    assert_error(response, 404)


# ---- a sweep: never a 500 -------------------------------------------------------------

SWEEP = [
    pytest.param("post", "", b"{", "application/json", id="create-open-brace"),
    pytest.param("post", "", b"\xff\xfe\x00", "application/json", id="create-bom-garbage"),
    pytest.param("post", "", b"", "application/json", id="create-empty-json"),
    pytest.param("post", "", b"{}", "text/plain", id="create-text-plain"),
    pytest.param("post", "", b'{"workspace_slug": 1, "name": []}', "application/json",
                 id="create-wrong-types"),
    pytest.param("post", "", b'{"workspace_slug": "acme-corp", "name": "' + b"x" * 300 + b'"}',
                 "application/json", id="create-name-too-long"),
    pytest.param("patch", "/{id}", b'{"settings": []}', "application/json",
                 id="patch-settings-list"),
    pytest.param("patch", "/{id}", b'{"settings": {"schedule": "always"}}', "application/json",
                 id="patch-schedule-string"),
    pytest.param("patch", "/{id}", b'{"sequence": {"0": {}}}', "application/json",
                 id="patch-sequence-object"),
    pytest.param("patch", "/{id}", b'{"sequence": [null, 1, "x"]}', "application/json",
                 id="patch-sequence-junk"),
    pytest.param("patch", "/{id}", b'{"settings": {"timezone": "../../etc/passwd"}}',
                 "application/json", id="patch-timezone-path"),
    pytest.param("patch", "/{id}", b'{"sequence": [{"subject": "{{", "body": "{% for %}"}]}',
                 "application/json", id="patch-broken-template"),
    pytest.param("post", "/{id}/send", b'{"action": ["start"]}', "application/json",
                 id="send-action-list"),
    pytest.param("post", "/{id}/send", b'{"action": "START"}', "application/json",
                 id="send-action-upper-case"),
    pytest.param("post", "/{id}/leads", b'{"leads": "a@example.com"}', "application/json",
                 id="leads-string"),
    pytest.param("post", "/{id}/leads", b'{"leads": [1, null, "x", []]}', "application/json",
                 id="leads-junk-items"),
    pytest.param("post", "/{id}/leads", b'{"leads": []}', "application/json", id="leads-empty"),
    pytest.param("post", "/{id}/leads",
                 b'{"leads": [{"email": "a@example.com", "custom_fields": {"1bad": 1}}]}',
                 "application/json", id="leads-bad-custom-field-name"),
    pytest.param("get", "?workspace=acme-corp&limit=-1", None, None, id="list-limit-negative"),
    pytest.param("get", "?workspace=acme-corp&limit=1.5", None, None, id="list-limit-fraction"),
    pytest.param("get", "?workspace=acme-corp&status=%FF", None, None, id="list-status-bad-utf8"),
    pytest.param("get", "?workspace=" + "a" * 5000, None, None, id="list-workspace-5000"),
    pytest.param("get", "/{id}/leads?status=nope", None, None, id="leads-status-unknown"),
]


@pytest.mark.parametrize("method, path, body, content_type", SWEEP)
def test_bad_requests_get_a_4xx_envelope_never_a_500(api, campaign_id, method, path, body,
                                                      content_type):
    kwargs = {} if body is None else {"data": body, "content_type": content_type}

    response = getattr(api, method)(BASE + path.format(id=campaign_id), **kwargs)

    if response.status_code == 200:  # a lead list that judges items one by one
        assert response.json["data"]["added"] == 0
    else:
        assert 400 <= response.status_code < 500
        assert_error(response, response.status_code)
    assert campaigns() == 1
    assert api.get(f"{BASE}/{campaign_id}").json["data"]["version"] == 1
