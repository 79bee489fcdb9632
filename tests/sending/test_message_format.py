"""What each sent message looks like: sender, ids, threading, unsubscribe headers, parts,
and tracking only where the campaign asks for it."""
import re

from tests.sending.conftest import html_of, links_in, text_of

BASE_URL = "http://127.0.0.1:8000"  # TestConfig's BASE_URL
THREE_STEPS = [
    {"subject": "Hello {{firstName}}", "body": "Hi {{firstName}}, see https://example.com/pricing"},
    {"subject": "", "body": "Following up", "delay": 1, "delay_unit": "days"},
    {"subject": "", "body": "Last note", "delay": 1, "delay_unit": "days"},
]
GRACE = {"email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper"}


def send_all_steps(launch, dispatcher, frozen, *, leads=(GRACE,), sequence=THREE_STEPS,
                   settings=None):
    campaign_id = launch(leads=list(leads), sequence=sequence, settings=settings)
    for _ in sequence:
        dispatcher.run_once()
        frozen.advance(days=1)
    return campaign_id


def first_message(launch, dispatcher, smtp_server, *, settings=None, body=None):
    sequence = [{**THREE_STEPS[0], **({"body": body} if body else {})}]
    launch(leads=[GRACE], sequence=sequence, settings=settings)
    assert dispatcher.run_once().sent == 1
    [msg] = smtp_server.parsed()
    return msg


def test_from_header_carries_from_name_and_from_email(launch, dispatcher, smtp_server, frozen):
    msg = first_message(launch, dispatcher, smtp_server)
    [sender] = msg["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Ada from Acme", "ada@acme.test")
    assert smtp_server.messages[0]["from"] == "ada@acme.test"


def test_from_header_without_from_name_is_the_bare_address(launch, dispatcher, smtp_server,
                                                           frozen):
    msg = first_message(launch, dispatcher, smtp_server, settings={"from_name": None})
    [sender] = msg["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("", "ada@acme.test")


def test_to_header_names_the_lead(launch, dispatcher, smtp_server, frozen):
    msg = first_message(launch, dispatcher, smtp_server)
    [to] = msg["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Grace Hopper", "grace@example.com")
    assert smtp_server.messages[0]["to"] == ["grace@example.com"]


def test_reply_to_is_set_from_settings(launch, dispatcher, smtp_server, frozen):
    msg = first_message(launch, dispatcher, smtp_server,
                        settings={"reply_to": "replies@acme.test"})
    assert msg["Reply-To"] == "replies@acme.test"


def test_every_message_has_its_own_message_id(launch, dispatcher, smtp_server, frozen):
    leads = [GRACE, {"email": "alan@example.com"}, {"email": "ada@example.com"}]
    send_all_steps(launch, dispatcher, frozen, leads=leads)
    ids = [m["Message-ID"] for m in smtp_server.parsed()]
    assert len(ids) == 9 and len(set(ids)) == 9
    # 144 random bits (24 URL-safe base64 characters), and no row id to guess from.
    assert all(re.fullmatch(r"<[A-Za-z0-9_-]{24}@acme\.test>", i) for i in ids)
    assert not any("msg_" in i for i in ids)


def test_follow_ups_reply_in_the_thread_of_the_earlier_steps(launch, dispatcher, smtp_server,
                                                             frozen):
    send_all_steps(launch, dispatcher, frozen)
    first, second, third = smtp_server.parsed()
    assert first["In-Reply-To"] is None and first["References"] is None
    assert second["In-Reply-To"] == first["Message-ID"]
    assert second["References"] == first["Message-ID"]
    assert third["In-Reply-To"] == second["Message-ID"]
    assert third["References"].split() == [first["Message-ID"], second["Message-ID"]]


def test_follow_up_with_an_empty_subject_is_re_and_the_first_subject(launch, dispatcher,
                                                                     smtp_server, frozen):
    send_all_steps(launch, dispatcher, frozen)
    assert [m["Subject"] for m in smtp_server.parsed()] == [
        "Hello Grace", "Re: Hello Grace", "Re: Hello Grace"]


def test_follow_up_with_its_own_subject_keeps_it_and_stays_threaded(launch, dispatcher,
                                                                    smtp_server, frozen):
    sequence = [THREE_STEPS[0], {"subject": "A new idea for {{firstName}}", "body": "Idea",
                                 "delay": 1, "delay_unit": "days"}]
    send_all_steps(launch, dispatcher, frozen, sequence=sequence)
    first, second = smtp_server.parsed()
    assert second["Subject"] == "A new idea for Grace"
    assert second["In-Reply-To"] == first["Message-ID"]


def test_every_message_has_one_click_list_unsubscribe_headers(launch, dispatcher, smtp_server,
                                                              frozen):
    send_all_steps(launch, dispatcher, frozen)
    for msg in smtp_server.parsed():
        assert re.fullmatch(rf"<{re.escape(BASE_URL)}/u/[^>\s]+>", msg["List-Unsubscribe"])
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_both_parts_carry_the_unsubscribe_link(launch, dispatcher, smtp_server, frozen):
    msg = first_message(launch, dispatcher, smtp_server)
    link = msg["List-Unsubscribe"].strip("<>")
    assert link in text_of(msg)
    assert links_in(html_of(msg), "/u/") == [link]


def test_message_has_a_plain_text_and_an_html_part(launch, dispatcher, smtp_server, frozen):
    msg = first_message(launch, dispatcher, smtp_server)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert "Hi Grace, see https://example.com/pricing" in text_of(msg)
    assert "Hi Grace, see" in html_of(msg)


def test_html_part_escapes_what_the_lead_data_says(launch, dispatcher, smtp_server, frozen):
    launch(leads=[{**GRACE, "first_name": "<b>Grace</b>"}], sequence=THREE_STEPS[:1])
    dispatcher.run_once()
    [msg] = smtp_server.parsed()
    assert "<b>Grace</b>" not in html_of(msg)
    assert "&lt;b&gt;Grace&lt;/b&gt;" in html_of(msg)
    assert "Hi <b>Grace</b>" in text_of(msg)


def test_open_pixel_is_in_the_html_with_track_opens(launch, dispatcher, smtp_server, frozen):
    msg = first_message(launch, dispatcher, smtp_server, settings={"track_opens": True})
    [pixel] = links_in(html_of(msg), "/t/o/")
    assert pixel.startswith(f"{BASE_URL}/t/o/") and pixel.endswith(".gif")
    assert 'width="1" height="1"' in html_of(msg)
    assert "/t/o/" not in text_of(msg)


def test_no_open_pixel_without_track_opens(launch, dispatcher, smtp_server, frozen):
    msg = first_message(launch, dispatcher, smtp_server, settings={"track_opens": False})
    assert "/t/o/" not in html_of(msg)
    assert "<img" not in html_of(msg)


def test_links_go_through_the_click_redirect_with_track_clicks(launch, dispatcher, smtp_server,
                                                               frozen):
    msg = first_message(launch, dispatcher, smtp_server, settings={"track_clicks": True})
    [tracked] = links_in(html_of(msg), "/t/c/")
    assert tracked.startswith(f"{BASE_URL}/t/c/")
    assert links_in(html_of(msg), "example.com/pricing") == []


def test_links_are_left_alone_without_track_clicks(launch, dispatcher, smtp_server, frozen):
    msg = first_message(launch, dispatcher, smtp_server, settings={"track_clicks": False})
    assert links_in(html_of(msg), "/t/c/") == []
    assert links_in(html_of(msg), "example.com") == ["https://example.com/pricing"]


def test_non_ascii_names_and_subjects_arrive_intact(launch, dispatcher, smtp_server, frozen):
    launch(leads=[{"email": "zoe@example.com", "first_name": "Zoë", "last_name": "Ångström"}],
           sequence=[{"subject": "Grüße, {{firstName}}", "body": "Hallo {{firstName}} ✓"}],
           settings={"from_name": "Åda from Acme"})
    dispatcher.run_once()
    [msg] = smtp_server.parsed()
    assert msg["Subject"] == "Grüße, Zoë"
    assert msg["To"].addresses[0].display_name == "Zoë Ångström"
    assert msg["From"].addresses[0].display_name == "Åda from Acme"
    assert "Hallo Zoë ✓" in text_of(msg) and "Hallo Zoë ✓" in html_of(msg)


def test_international_domains_are_mailed_in_their_ascii_form(launch, dispatcher, smtp_server,
                                                              frozen):
    launch(leads=[{"email": "grace@exämple.com"}], sequence=THREE_STEPS[:1],
           settings={"from_email": "ada@acmé.test"})
    assert dispatcher.run_once().sent == 1
    [received] = smtp_server.messages
    assert (received["from"], received["to"]) == ("ada@xn--acm-dma.test",
                                                  ["grace@xn--exmple-cua.com"])
    [msg] = smtp_server.parsed()
    assert msg["To"].addresses[0].addr_spec == "grace@xn--exmple-cua.com"
    assert msg["From"].addresses[0].addr_spec == "ada@xn--acm-dma.test"


def test_line_breaks_from_lead_data_cannot_add_headers(launch, dispatcher, smtp_server, frozen):
    launch(leads=[{"email": "grace@example.com",
                   "custom_fields": {"topic": "Hi\r\nBcc: evil@example.com"}}],
           sequence=[{"subject": "About {{topic}}", "body": "Hello"}])
    assert dispatcher.run_once().sent == 1
    [received] = smtp_server.messages
    assert received["to"] == ["grace@example.com"]
    [msg] = smtp_server.parsed()
    assert msg["Bcc"] is None
    assert msg["Subject"] == "About Hi  Bcc: evil@example.com"
