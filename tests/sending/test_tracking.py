"""The public links in sent mail: the open pixel, click redirects and unsubscribe, each
proven by an encrypted token; and what they count."""
import json
import logging

import peewee
import pytest

from app.mail import tokens
from app.services import tracking as tracking_service
from tests.conftest import Tenant
from tests.sending.conftest import (
    ALWAYS,
    BASE,
    SENDER,
    act,
    add_leads,
    campaign,
    html_of,
    lead_of,
    links_in,
    path_of,
)

TRACKED = {"track_opens": True, "track_clicks": True}
TWO_STEPS = [
    {"subject": "Hello {{firstName}}",
     "body": "Hi {{firstName}}, see https://example.com/pricing?plan=pro&seats=3 today"},
    {"subject": "", "body": "Following up", "delay": 1, "delay_unit": "days"},
]
GRACE = "grace@example.com"
ALAN = "alan@example.com"


@pytest.fixture
def sent(api, app, launch, dispatcher, smtp_server, frozen):
    """Launch a tracked two-step campaign to ``emails`` and send step 1."""
    def make(emails=(GRACE,), sequence=TWO_STEPS, settings=TRACKED):
        campaign_id = launch(leads=[{"email": e, "first_name": e.split("@")[0].title()}
                                    for e in emails],
                             sequence=sequence, settings=settings)
        assert dispatcher.run_once().sent == len(emails)
        return campaign_id
    return make


@pytest.fixture
def link(app, smtp_server):
    """The path of the one link in the message to ``email`` whose URL contains ``marker``."""
    def find(email, marker, index=0):
        [url] = links_in(html_of(smtp_server.to(email)[index]), marker)
        return path_of(url, app.config["BASE_URL"])
    return find


def stats(api, campaign_id):
    return campaign(api, campaign_id)["stats"]


def altered(path):
    """The same link with one character of its token's signature changed."""
    head, tail = path[:-8], path[-8:]
    swapped = "A" if tail[0] != "A" else "B"
    return head + swapped + tail[1:]


# ---- opens -----------------------------------------------------------------------------

def test_open_pixel_records_an_open(api, client, sent, link):
    campaign_id = sent()
    response = client.get(link(GRACE, "/t/o/"))
    assert response.status_code == 200
    assert response.mimetype == "image/gif"
    assert response.data.startswith(b"GIF89a")
    assert "no-store" in response.headers["Cache-Control"]
    assert stats(api, campaign_id)["opened"] == 1
    assert lead_of(api, campaign_id, GRACE)["opened_at"] == "2026-11-30T10:00:00Z"


def test_two_opens_by_one_lead_count_once(api, client, sent, link, frozen):
    campaign_id = sent()
    assert client.get(link(GRACE, "/t/o/")).status_code == 200
    frozen.advance(hours=1)
    assert client.get(link(GRACE, "/t/o/")).status_code == 200
    assert stats(api, campaign_id)["opened"] == 1
    assert lead_of(api, campaign_id, GRACE)["opened_at"] == "2026-11-30T10:00:00Z"


def test_opens_count_leads(api, client, sent, link):
    campaign_id = sent(emails=(GRACE, ALAN, "ada@example.com"))
    client.get(link(GRACE, "/t/o/"))
    client.get(link(ALAN, "/t/o/"))
    client.get(link(ALAN, "/t/o/"))
    assert stats(api, campaign_id)["opened"] == 2
    assert lead_of(api, campaign_id, "ada@example.com")["opened_at"] is None


def test_opens_of_two_steps_by_one_lead_count_once(api, client, sent, link, dispatcher,
                                                   frozen):
    campaign_id = sent()
    frozen.advance(days=1)
    assert dispatcher.run_once().sent == 1
    assert client.get(link(GRACE, "/t/o/", 0)).status_code == 200
    assert client.get(link(GRACE, "/t/o/", 1)).status_code == 200
    assert stats(api, campaign_id)["opened"] == 1


def test_altered_open_token_is_404_and_counts_nothing(api, client, sent, link):
    campaign_id = sent()
    response = client.get(altered(link(GRACE, "/t/o/").removesuffix(".gif")) + ".gif")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "invalid_link"
    assert stats(api, campaign_id)["opened"] == 0
    assert lead_of(api, campaign_id, GRACE)["opened_at"] is None


# ---- clicks ----------------------------------------------------------------------------

def test_click_redirects_to_the_link_in_the_message(api, client, sent, link):
    campaign_id = sent()
    response = client.get(link(GRACE, "/t/c/"))
    assert response.status_code == 302
    assert response.headers["Location"] == "https://example.com/pricing?plan=pro&seats=3"
    counted = stats(api, campaign_id)
    assert (counted["clicked"], counted["opened"]) == (1, 1)
    assert lead_of(api, campaign_id, GRACE)["clicked_at"] == "2026-11-30T10:00:00Z"


def test_two_clicks_by_one_lead_count_once(api, client, sent, link):
    campaign_id = sent()
    assert client.get(link(GRACE, "/t/c/")).status_code == 302
    assert client.get(link(GRACE, "/t/c/")).status_code == 302
    assert stats(api, campaign_id)["clicked"] == 1


def test_click_on_a_link_ending_a_sentence_leaves_the_full_stop_out(client, sent, link):
    sequence = [{"subject": "Prices", "body": "Our prices are at https://example.com/pricing."}]
    sent(sequence=sequence)
    response = client.get(link(GRACE, "/t/c/"))
    assert response.status_code == 302
    assert response.headers["Location"] == "https://example.com/pricing"


def test_each_link_of_a_message_redirects_to_its_own_url(client, sent, smtp_server, app):
    body = "Docs: https://example.com/docs and pricing: https://example.com/pricing"
    sent(sequence=[{"subject": "Links", "body": body}])
    urls = links_in(html_of(smtp_server.to(GRACE)[0]), "/t/c/")
    locations = [client.get(path_of(url, app.config["BASE_URL"])).headers["Location"]
                 for url in urls]
    assert locations == ["https://example.com/docs", "https://example.com/pricing"]


def test_altered_click_token_is_404_and_counts_nothing(api, client, sent, link):
    campaign_id = sent()
    response = client.get(altered(link(GRACE, "/t/c/")))
    assert response.status_code == 404
    assert "Location" not in response.headers
    counted = stats(api, campaign_id)
    assert (counted["clicked"], counted["opened"]) == (0, 0)


def test_click_token_forged_for_another_url_is_404(api, app, client, sent, link):
    campaign_id = sent()
    real = link(GRACE, "/t/c/").removeprefix("/t/c/")
    message_pk, _url = tokens.read(app.config["SECRET_KEY"], "click", real)
    forged = tokens.sign("not-the-secret", "click", [message_pk, "https://evil.example/"])
    response = client.get(f"/t/c/{forged}")
    assert response.status_code == 404
    assert stats(api, campaign_id)["clicked"] == 0


def test_open_token_used_as_a_click_is_404(api, client, sent, link):
    campaign_id = sent()
    token = link(GRACE, "/t/o/").removeprefix("/t/o/").removesuffix(".gif")
    assert client.get(f"/t/c/{token}").status_code == 404
    assert stats(api, campaign_id)["clicked"] == 0


# ---- unsubscribe -------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["get", "head"])
def test_fetching_the_unsubscribe_link_asks_and_changes_nothing(api, client, sent, link,
                                                                method):
    campaign_id = sent(settings={**TRACKED, "from_name": "Ada <from> Acme"})
    response = getattr(client, method)(link(GRACE, "/u/"))
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "no-store" in response.headers["Cache-Control"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    if method == "get":
        page = response.get_data(as_text=True)
        assert "Ada &lt;from&gt; Acme" in page
        assert "g***@example.com" in page and GRACE not in page
        assert '<form method="post" action="">' in page
        assert page.count("<button") == 1
    else:
        assert response.data == b""
    lead = lead_of(api, campaign_id, GRACE)
    assert lead["status"] == "in_progress"
    assert stats(api, campaign_id)["unsubscribed"] == 0


def test_the_pages_button_unsubscribes_and_confirms(api, client, sent, link):
    campaign_id = sent()
    path = link(GRACE, "/u/")
    response = client.post(path, data={"List-Unsubscribe": "One-Click"},
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "You are unsubscribed" in page and "g***@example.com" in page
    assert GRACE not in page
    lead = lead_of(api, campaign_id, GRACE)
    assert lead["status"] == "unsubscribed" and lead["next_send_at"] is None
    assert stats(api, campaign_id)["unsubscribed"] == 1


def test_one_click_post_marks_the_lead_unsubscribed(api, app, client, sent, smtp_server):
    campaign_id = sent()
    [msg] = smtp_server.to(GRACE)
    url = msg["List-Unsubscribe"].strip("<>")
    response = client.post(path_of(url, app.config["BASE_URL"]),
                           data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert lead_of(api, campaign_id, GRACE)["status"] == "unsubscribed"
    assert stats(api, campaign_id)["unsubscribed"] == 1


def test_unsubscribing_twice_counts_once(api, client, sent, link):
    campaign_id = sent()
    assert client.post(link(GRACE, "/u/")).status_code == 200
    assert client.post(link(GRACE, "/u/")).status_code == 200
    assert stats(api, campaign_id)["unsubscribed"] == 1


def test_unsubscribed_lead_gets_no_later_steps(api, client, sent, link, dispatcher,
                                               smtp_server, frozen):
    campaign_id = sent(emails=(GRACE, ALAN))
    client.post(link(GRACE, "/u/"))
    frozen.advance(days=2)
    assert dispatcher.run_once().sent == 1
    assert len(smtp_server.to(GRACE)) == 1
    assert len(smtp_server.to(ALAN)) == 2
    assert lead_of(api, campaign_id, GRACE)["current_step"] == 1


def test_unsubscribed_address_gets_nothing_from_another_campaign_of_the_workspace(
        api, client, sent, link, launch, dispatcher, smtp_server):
    other = launch(leads=[{"email": GRACE}, {"email": ALAN}], sequence=TWO_STEPS, start=False)
    sent()
    client.post(link(GRACE, "/u/"))
    act(api, other, "start")
    assert dispatcher.run_once().sent == 1
    assert len(smtp_server.to(GRACE)) == 1
    assert lead_of(api, other, GRACE)["status"] == "unsubscribed"


def test_unsubscribed_address_is_skipped_when_added_again(api, client, sent, link,
                                                          create_campaign):
    sent()
    client.post(link(GRACE, "/u/"))
    other = create_campaign(name="Spring")["id"]
    data = add_leads(api, other, [{"email": GRACE}, {"email": ALAN}])
    assert (data["added"], data["suppressed"]) == (1, 1)
    assert [lead["email"] for lead in
            api.get(f"{BASE}/{other}/leads").json["data"]] == [ALAN]


def test_unsubscribe_leaves_another_tenants_leads_alone(api, app, client, sent, link,
                                                        dispatcher, smtp_server):
    globex = Tenant("Globex", "globex")
    response = client.post(BASE, headers=globex.headers,
                           json={"workspace_slug": "globex", "name": "Theirs"})
    theirs = response.json["data"]["id"]
    body = {"sequence": TWO_STEPS[:1], "settings": {**SENDER, "schedule": ALWAYS}}
    assert client.patch(f"{BASE}/{theirs}", headers=globex.headers, json=body).status_code == 200
    assert client.post(f"{BASE}/{theirs}/leads", headers=globex.headers,
                       json={"leads": [{"email": GRACE}]}).status_code == 200
    sent()
    client.post(link(GRACE, "/u/"))
    assert client.post(f"{BASE}/{theirs}/send", headers=globex.headers,
                       json={"action": "start"}).status_code == 200
    assert dispatcher.run_once().sent == 1
    assert len(smtp_server.to(GRACE)) == 2


def test_unsubscribe_link_still_works_after_the_lead_was_deleted(api, client, sent, link,
                                                                create_campaign):
    campaign_id = sent()
    path = link(GRACE, "/u/")
    lead_id = lead_of(api, campaign_id, GRACE)["id"]
    assert api.delete(f"{BASE}/{campaign_id}/leads/{lead_id}").status_code == 200
    response = client.get(path)
    assert response.status_code == 200
    assert "g***@example.com" in response.get_data(as_text=True)
    assert add_leads(api, create_campaign(name="Autumn")["id"], [{"email": GRACE}])[
        "suppressed"] == 0  # asking changed nothing
    response = client.post(path)
    assert response.status_code == 200
    assert "g***@example.com" in response.get_data(as_text=True)
    other = create_campaign(name="Spring")["id"]
    assert add_leads(api, other, [{"email": GRACE}])["suppressed"] == 1


def test_one_click_unsubscribe_still_works_after_the_campaign_was_deleted(
        api, client, sent, link, launch, dispatcher, smtp_server):
    campaign_id = sent()
    path = link(GRACE, "/u/")
    later = launch(leads=[{"email": GRACE}, {"email": ALAN}], sequence=TWO_STEPS, start=False)
    act(api, campaign_id, "pause")
    assert api.delete(f"{BASE}/{campaign_id}").status_code == 200
    assert client.post(path).status_code == 200
    assert lead_of(api, later, GRACE)["status"] == "unsubscribed"
    act(api, later, "start")
    assert dispatcher.run_once().sent == 1
    assert len(smtp_server.to(GRACE)) == 1


def test_altered_unsubscribe_token_is_404_and_changes_nothing(api, client, sent, link):
    campaign_id = sent()
    assert client.get(altered(link(GRACE, "/u/"))).status_code == 404
    assert client.post(altered(link(GRACE, "/u/"))).status_code == 404
    assert lead_of(api, campaign_id, GRACE)["status"] == "in_progress"
    assert stats(api, campaign_id)["unsubscribed"] == 0


# ---- rotating SECRET_KEY ---------------------------------------------------------------

def rotate(app, *, keep_old):
    old = app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = "the-new-secret"
    app.config["SECRET_KEY_FALLBACKS"] = [old] if keep_old else []


def test_links_sent_before_a_key_rotation_still_work_with_the_old_key_kept(
        api, app, client, sent, link):
    campaign_id = sent()
    unsubscribe, pixel = link(GRACE, "/u/"), link(GRACE, "/t/o/")
    rotate(app, keep_old=True)
    assert client.get(pixel).status_code == 200
    assert client.post(unsubscribe).status_code == 200
    assert stats(api, campaign_id)["opened"] == 1
    assert lead_of(api, campaign_id, GRACE)["status"] == "unsubscribed"


def test_links_signed_with_a_key_no_longer_kept_are_refused(api, app, client, sent, link):
    campaign_id = sent()
    unsubscribe = link(GRACE, "/u/")
    rotate(app, keep_old=False)
    assert client.get(unsubscribe).status_code == 404
    assert client.post(unsubscribe).status_code == 404
    assert lead_of(api, campaign_id, GRACE)["status"] != "unsubscribed"


def test_new_links_are_signed_with_the_new_key():
    token = tokens.sign(("old", "new"), "open", "msg_1")
    assert tokens.read("new", "open", token) == "msg_1"
    assert tokens.read("old", "open", token) is None


def test_links_signed_before_tokens_were_encrypted_still_work(api, app, client, sent):
    """A link of the earlier shape: itsdangerous-signed JSON, compressed or not."""
    from itsdangerous import URLSafeSerializer
    campaign_id = sent()
    lead = lead_of(api, campaign_id, GRACE)
    old = URLSafeSerializer(app.config["SECRET_KEY"], salt="campaigns.unsub").dumps(
        [lead["id"], lead_workspace(lead), GRACE])
    assert client.get(f"/u/{old}").status_code == 200
    assert lead_of(api, campaign_id, GRACE)["status"] == "in_progress"
    assert client.post(f"/u/{old}").status_code == 200
    assert lead_of(api, campaign_id, GRACE)["status"] == "unsubscribed"
    payload = ["msg_1", "https://acme.test/?utm=" + "campaign" * 20]  # it shrinks
    compressed = URLSafeSerializer("key", salt="campaigns.click").dumps(payload)
    assert compressed.startswith(".")  # itsdangerous' mark of a zlib payload
    assert tokens.read("key", "click", compressed) == payload


def lead_workspace(lead):
    from app.database import connection
    from app.models import Lead
    with connection():
        return Lead.get_by_id(lead["id"]).workspace_id


def test_tokens_reveal_no_id_and_no_address(api, sent, smtp_server):
    campaign_id = sent()
    lead = lead_of(api, campaign_id, GRACE)
    [msg] = smtp_server.to(GRACE)
    page = html_of(msg)
    for marker in ("/u/", "/t/o/", "/t/c/"):
        [url] = links_in(page, marker)
        token = url.rsplit("/", 1)[-1].removesuffix(".gif")
        for decoded in (token, _b64(token)):
            for secret in (lead["id"], "lead_", "msg_", "ws_", "grace", "example.com"):
                assert secret not in decoded


def _b64(token):
    import base64
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("latin-1")


def test_a_token_of_another_kind_or_tampered_reads_as_none():
    token = tokens.sign("key", "unsubscribe", ["lead_1", "ws_1", GRACE])
    assert tokens.read("key", "unsubscribe", token) == ["lead_1", "ws_1", GRACE]
    assert tokens.read("key", "open", token) is None
    assert tokens.read("other", "unsubscribe", token) is None
    for i in (0, len(token) // 2, len(token) - 8):
        changed = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
        assert tokens.read("key", "unsubscribe", changed) is None
    assert tokens.read("key", "unsubscribe", token + "x.y") is None
    assert tokens.read("key", "unsubscribe", "é" * 10) is None
    assert "=" not in token and "." not in token


# ---- the access log ----------------------------------------------------------------------

def test_the_access_log_holds_the_links_routes_and_never_their_tokens(client, sent, link,
                                                                      access_log):
    sent()
    paths = [link(GRACE, "/t/o/"), link(GRACE, "/t/c/"), link(GRACE, "/u/")]
    access_log.clear()  # the requests that made the campaign
    requests = [("get", paths[0]), ("get", paths[1]), ("get", paths[2]), ("head", paths[2]),
                ("post", paths[2]), ("get", paths[0].removesuffix(".gif")),
                ("get", paths[2] + "/more")]
    for method, path in requests:
        getattr(client, method)(path)
    logged = list(access_log)
    assert [(line["method"], line["path"]) for line in logged] == [
        ("GET", "/t/o/<token>.gif"), ("GET", "/t/c/<token>"), ("GET", "/u/<token>"),
        ("HEAD", "/u/<token>"), ("POST", "/u/<token>"), ("GET", "/t/o/<token>"),
        ("GET", "/u/<token>/more")]
    assert [line["status"] for line in logged] == [200, 302, 200, 200, 200, 404, 404]
    tokens_sent = {p.rsplit("/", 1)[-1].removesuffix(".gif") for p in paths}
    assert not [line for line in access_log for token in tokens_sent
                if token in json.dumps(line)]


@pytest.mark.parametrize("failure", [RuntimeError("boom"),
                                     peewee.OperationalError("server closed the connection")])
def test_an_error_on_a_link_is_logged_by_its_route_never_its_token(
        client, sent, link, monkeypatch, caplog, failure):
    sent()
    path = link(GRACE, "/u/")
    token = path.rsplit("/", 1)[-1]

    def fail(*args, **kwargs):
        raise failure
    monkeypatch.setattr(tracking_service, "unsubscribe", fail)
    with caplog.at_level(logging.WARNING, logger="app.api"):
        response = client.post(path)

    assert response.status_code in (500, 503)
    assert [r for r in caplog.records if "/u/<token>" in r.getMessage()]
    assert not [r for r in caplog.records if token in r.getMessage()]
