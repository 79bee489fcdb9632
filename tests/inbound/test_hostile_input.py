"""POST /api/v1/inbound/email never answers hostile input with a 500 (a provider retries
a 500 forever): what cannot be read is accepted and ignored, and changes nothing."""
import pytest

from app.services.inbound import MAX_CONTAINERS, MAX_DELIMITERS, MAX_HEADER_CHARS, MAX_REPORT_BLOCKS
from tests.sending.conftest import lead_of
from tests.sending.test_inbound import GRACE, dsn, reply, stats

IGNORED = {"success": True, "data": {"outcome": "ignored", "lead_id": None}}


def nested(depth, kind="multipart/mixed", inner=b"Content-Type: text/plain\r\n\r\nhi\r\n"):
    """A mail whose body is ``depth`` containers of ``kind``, one inside the other."""
    head = f"From: Grace <{GRACE}>\r\nMIME-Version: 1.0\r\n".encode()
    if kind == "message/rfc822":
        return head + b"Content-Type: message/rfc822\r\n\r\n" * depth + inner
    opening = b"".join(b'Content-Type: %s; boundary="b%d"\r\n\r\n--b%d\r\n'
                       % (kind.encode(), i, i) for i in range(depth))
    closing = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(depth)))
    return head + opening + inner + closing


def assert_ignored(response):
    assert response.status_code == 200, response.json
    assert response.json == IGNORED


@pytest.mark.parametrize("kind", ["multipart/mixed", "message/rfc822"])
def test_two_thousand_nested_containers_are_ignored(app, api, inbound, mailed, kind):
    campaign_id, message_id = mailed()
    raw = nested(2000, kind).replace(b"MIME-Version", f"In-Reply-To: {message_id}\r\n"
                                     "MIME-Version".encode(), 1)
    assert len(raw) < app.config["MAX_CONTENT_LENGTH"]
    assert_ignored(inbound(raw))
    assert lead_of(api, campaign_id, GRACE)["replied_at"] is None
    assert stats(api, campaign_id)["replied"] == 0


def test_nesting_just_past_the_bound_is_ignored(api, inbound, mailed):
    campaign_id, message_id = mailed()
    raw = nested(MAX_CONTAINERS + 1).replace(
        b"MIME-Version", f"In-Reply-To: {message_id}\r\nMIME-Version".encode(), 1)
    assert_ignored(inbound(raw))
    assert stats(api, campaign_id)["replied"] == 0


def test_a_reply_nested_as_deep_as_real_mail_counts(api, inbound, mailed):
    campaign_id, message_id = mailed()
    raw = nested(5, "multipart/alternative").replace(
        b"MIME-Version", f"In-Reply-To: {message_id}\r\nMIME-Version".encode(), 1)
    response = inbound(raw)
    assert response.json["data"]["outcome"] == "reply"
    assert stats(api, campaign_id)["replied"] == 1


@pytest.mark.parametrize("raw", [
    b"\x00\xff\xfe garbage \x80\x81\r\n\r\n\x00",
    bytes(range(256)) * 16,
    b"",
    b"\r\n\r\n",
    b"\r\nJust a body, no headers at all.\r\n",
    b"::::\r\n: \r\n\t\r\n",
], ids=["garbage", "every-byte", "empty", "blank-lines", "no-headers", "colons"])
def test_unreadable_bytes_are_ignored(api, inbound, mailed, raw):
    campaign_id, _message_id = mailed()
    assert_ignored(inbound(raw))
    assert stats(api, campaign_id)["replied"] == 0


def test_reply_with_non_utf8_headers_still_counts(api, inbound, mailed):
    campaign_id, message_id = mailed()
    raw = reply(in_reply_to=message_id).encode().replace(
        b"Subject: Re: Hello Grace", b"Subject: R\xe9: Hello Gr\xe2ce \xff\xfe").replace(
        b"From: Grace Hopper", b"From: Gr\xe2ce Hopper \xc3\xff")
    response = inbound(raw)
    assert response.status_code == 200
    assert response.json["data"]["outcome"] == "reply"
    assert stats(api, campaign_id)["replied"] == 1


def test_non_utf8_bytes_inside_a_message_id_are_ignored(api, inbound, mailed):
    campaign_id, message_id = mailed()
    broken = message_id.encode().replace(b"@", b"\xe9\xff@")
    assert_ignored(inbound(reply(in_reply_to="PLACEHOLDER").encode().replace(
        b"PLACEHOLDER", broken)))
    assert stats(api, campaign_id)["replied"] == 0


@pytest.mark.parametrize("bad", ["\x00", "\x7f", "\x1b"], ids=["nul", "del", "escape"])
def test_control_characters_inside_a_message_id_are_ignored(api, inbound, mailed, bad):
    campaign_id, message_id = mailed()
    assert_ignored(inbound(reply(in_reply_to=message_id.replace("@", f"{bad}@"))))
    assert stats(api, campaign_id)["replied"] == 0


def test_lone_surrogates_in_decoded_text_are_harmless(api, inbound, mailed):
    # ED A0 80 is U+D800 written as if it were a character: undecodable bytes that the
    # email package hands on as lone surrogates (in an address) or replaces (in text).
    campaign_id, message_id = mailed()
    raw = reply(in_reply_to=message_id,
                subject="=?utf-8?b?7aCA?= Re: Hello", body="PLACEHOLDER").encode()
    raw = raw.replace(f"From: Grace Hopper <{GRACE}>".encode(),
                      b"From: =?utf-8?b?R3Jh7aCAY2U=?= <gr\xed\xa0\x80ce@example.com>")
    raw = raw.replace(b"PLACEHOLDER", b"Thanks \xed\xa0\x80 and \xed\xb0\x80")
    response = inbound(raw)
    assert response.status_code == 200
    assert response.json["data"]["outcome"] == "reply"  # an address at the lead's domain
    assert stats(api, campaign_id)["replied"] == 1


def test_lone_surrogate_in_a_message_id_is_ignored(api, inbound, mailed):
    campaign_id, message_id = mailed()
    raw = reply(in_reply_to="PLACEHOLDER").encode().replace(
        b"PLACEHOLDER", b"<\xed\xa0\x80" + message_id[1:].encode())
    assert_ignored(inbound(raw))
    assert stats(api, campaign_id)["replied"] == 0


def test_report_whose_returned_headers_claim_an_unknown_charset_still_bounces(api, inbound,
                                                                              mailed):
    campaign_id, message_id = mailed()
    raw = dsn(message_id).replace("Content-Type: text/rfc822-headers",
                                  "Content-Type: text/rfc822-headers; charset=x-no-such")
    response = inbound(raw)
    assert response.status_code == 200
    assert response.json["data"]["outcome"] == "bounce"
    assert lead_of(api, campaign_id, GRACE)["status"] == "bounced"


def test_report_whose_status_part_is_garbage_is_ignored(api, inbound, mailed):
    campaign_id, message_id = mailed()
    raw = dsn(message_id).encode().replace(b"Reporting-MTA: dns; mx.example.com\r\n",
                                           b"\x00\xff:\r\n\t\xfe\r\n::\r\n")
    raw = raw.replace(f"Final-Recipient: rfc822; {GRACE}".encode(), b"Final-Recipient: \xff")
    assert_ignored(inbound(raw))
    assert lead_of(api, campaign_id, GRACE)["status"] == "in_progress"
    assert stats(api, campaign_id)["bounced"] == 0


def test_thousands_of_references_are_looked_up_boundedly(api, inbound, mailed):
    campaign_id, message_id = mailed()
    noise = " ".join(f"<n{i}@elsewhere.test>" for i in range(5000))
    response = inbound(reply(references=f"{noise} {message_id}"))
    assert response.json["data"]["outcome"] == "reply"
    assert stats(api, campaign_id)["replied"] == 1


# ---- bounded cost: what the parser is given, and what is read of it ------------------

def test_a_from_header_longer_than_the_bound_is_ignored(api, inbound, mailed):
    campaign_id, message_id = mailed()
    colleagues = ", ".join(f"c{i}@example.com" for i in range(MAX_HEADER_CHARS // 16))
    raw = reply(in_reply_to=message_id).replace(
        f"From: Grace Hopper <{GRACE}>", f"From: {GRACE}, {colleagues}")
    assert_ignored(inbound(raw))
    assert stats(api, campaign_id)["replied"] == 0


def test_a_subject_of_a_hundred_thousand_encoded_words_is_ignored(app, api, inbound, mailed):
    campaign_id, message_id = mailed()
    raw = reply(in_reply_to=message_id, subject="=?utf-8?q?a?= " * 70_000)
    assert len(raw) < app.config["MAX_CONTENT_LENGTH"]
    assert_ignored(inbound(raw))
    assert stats(api, campaign_id)["replied"] == 0


def test_references_longer_than_the_bound_keep_their_most_recent_ids(api, inbound, mailed):
    campaign_id, message_id = mailed()
    noise = " ".join(f"<n{i}@elsewhere.test>" for i in range(MAX_HEADER_CHARS // 10))
    response = inbound(reply(references=f"{noise} {message_id}"))
    assert response.json["data"]["outcome"] == "reply"
    assert stats(api, campaign_id)["replied"] == 1


def test_a_megabyte_of_empty_parts_is_ignored(app, api, inbound, mailed):
    campaign_id, message_id = mailed()
    raw = reply(in_reply_to=message_id, body="PLACEHOLDER").replace(
        "Content-Type: text/plain; charset=utf-8", "Content-Type: multipart/mixed; boundary=b")
    raw = raw.replace("PLACEHOLDER", "--b\r\n\r\nx\r\n" * 90_000 + "--b--")
    assert len(raw) < app.config["MAX_CONTENT_LENGTH"]
    assert_ignored(inbound(raw))
    assert stats(api, campaign_id)["replied"] == 0


def test_a_reply_with_signatures_and_rulers_counts(api, inbound, mailed):
    campaign_id, message_id = mailed()
    quoted = "\r\n".join(["--", "-----Original Message-----", "-- ", "Grace"] * 50)
    assert quoted.count("\n--") < MAX_DELIMITERS
    response = inbound(reply(in_reply_to=message_id, body=f"Yes, Thursday.\r\n{quoted}"))
    assert response.json["data"]["outcome"] == "reply"
    assert stats(api, campaign_id)["replied"] == 1


def test_a_report_reads_only_its_first_recipient_blocks(api, inbound, mailed):
    campaign_id, message_id = mailed()
    others = "".join(f"Final-Recipient: rfc822; n{i}@elsewhere.test\r\nAction: failed\r\n"
                     "Status: 5.1.1\r\n\r\n" for i in range(MAX_REPORT_BLOCKS))
    raw = dsn(message_id).replace(f"Final-Recipient: rfc822; {GRACE}",
                                  f"{others}Final-Recipient: rfc822; {GRACE}")
    assert_ignored(inbound(raw))
    assert lead_of(api, campaign_id, GRACE)["status"] == "in_progress"
    assert stats(api, campaign_id)["bounced"] == 0
