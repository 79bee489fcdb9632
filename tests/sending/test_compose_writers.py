"""The plain ASCII writer writes what the email package writes, or leaves it the job.

compose._plain_bytes writes plain ASCII messages directly; compose._package_bytes goes
through the email package (what smtplib's send_message sent before). For any input the
first either declines (None) or gives the same bytes, boundary aside; and what goes out
parses to the same message whichever writer wrote it.
"""
import datetime as dt
import email
import email.errors
import re
from email import policy
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.mail import compose
from app.mail.compose import Composer, Parts

BOUNDARY = re.compile(rb"={15}\d{19}==(?:\.\d+)?")
SENT_AT = dt.datetime(2026, 11, 30, 10, 0, 0)
SETTINGS = {"from_email": "ada@acme.test", "from_name": "Ada from Acme",
            "reply_to": "replies@acme.test", "track_opens": True, "track_clicks": True}
SEQUENCE = [
    {"subject": "Hello {{firstName}}",
     "body": "Hi {{firstName}}, see https://example.com/pricing.\n\nBest,\nAda"},
    {"subject": "", "body": "Following up on {{company}}"},
]


def lead(**fields):
    values = {"id": "lead_1", "workspace_id": "ws_1", "email": "grace@example.com",
              "first_name": "Grace", "last_name": "Hopper", "company": "Navy",
              "custom_fields": {}, **fields}
    row = SimpleNamespace(**values)
    row.variables = lambda: {**row.custom_fields, "firstName": row.first_name or "",
                             "lastName": row.last_name or "", "email": row.email,
                             "company": row.company or ""}
    return row


def parts_for(*, step=1, thread_ids=(), settings_=None, sequence=SEQUENCE, **lead_fields):
    composer = Composer(base_url="http://127.0.0.1:8000", secret="s3cret")
    parts, _subject = composer.parts(
        settings={**SETTINGS, **(settings_ or {})}, sequence=sequence, step_number=step,
        lead=lead(**lead_fields), message_pk="msg_1", message_id="<msg_1@acme.test>",
        thread_ids=list(thread_ids), sent_at=SENT_AT)
    return parts


def same_bytes(plain, package):
    return BOUNDARY.sub(b"B", plain) == BOUNDARY.sub(b"B", package)


def parsed(data):
    return email.message_from_bytes(data, policy=policy.default)


def summary(data):
    """What a reader of the message sees: decoded headers, part types and contents."""
    msg = parsed(data)
    headers = [(name, str(value)) for name, value in msg.items() if name != "Content-Type"]
    bodies = [(part.get_content_type(), part.get_content()) for part in msg.iter_parts()]
    return msg.get_content_type(), headers, bodies


def test_a_plain_ascii_message_is_written_directly_and_byte_for_byte():
    for parts in (parts_for(), parts_for(step=2, thread_ids=["<a@acme.test>", "<b@acme.test>"]),
                  parts_for(settings_={"from_name": None, "reply_to": None},
                            first_name=None, last_name=None)):
        plain = compose._plain_bytes(parts)
        assert plain is not None
        assert same_bytes(plain, compose._package_bytes(parts))


@pytest.mark.parametrize("change", [
    {"first_name": "Zoë"},                                          # encoded word
    {"last_name": "Smith Jr."},                                     # quoted name
    {"settings_": {"from_name": "Acme, Inc."}},                     # quoted name
    {"sequence": [{"subject": "Grüße {{firstName}}", "body": "Hi"}]},
    {"sequence": [{"subject": "=?utf-8?q?x?=", "body": "Hi"}]},      # reads as encoded
    {"sequence": [{"subject": "Hi", "body": "Hallo ✓"}]},           # 8bit body
    {"sequence": [{"subject": "Hi", "body": "x" * 1200}]},          # quoted-printable
    {"sequence": [{"subject": "Hi " + "y" * 950, "body": "Hi"}]},   # folded header
])
def test_anything_else_is_left_to_the_email_package(change):
    parts = parts_for(**change)
    assert compose._plain_bytes(parts) is None
    outgoing, _ = Composer(base_url="http://127.0.0.1:8000", secret="s3cret").build(
        settings={**SETTINGS, **change.get("settings_", {})},
        sequence=change.get("sequence", SEQUENCE), step_number=1,
        lead=lead(**{k: v for k, v in change.items() if k not in ("settings_", "sequence")}),
        message_pk="msg_1", message_id="<msg_1@acme.test>", thread_ids=[], sent_at=SENT_AT)
    assert same_bytes(outgoing.data, compose._package_bytes(parts))


@pytest.mark.parametrize("change", [
    {}, {"first_name": "Zoë", "last_name": "Ångström"}, {"last_name": "O'Brien"},
    {"sequence": [{"subject": "Grüße, {{firstName}}", "body": "Hallo {{firstName}} ✓"}]},
])
def test_both_writers_give_the_same_message_to_a_reader(change):
    sequence = change.pop("sequence", SEQUENCE)
    parts = parts_for(sequence=sequence, **change)
    built = compose._plain_bytes(parts) or compose._package_bytes(parts)
    assert summary(built) == summary(compose._package_bytes(parts))
    assert summary(built) == summary(compose.email_message(parts).as_bytes())


def test_the_boundary_never_occurs_in_a_body(monkeypatch):
    taken = f"{'=' * 15}{1:019d}=="
    draws = iter([1, 2])
    monkeypatch.setattr(compose.random, "randrange", lambda _n: next(draws))
    parts = parts_for(sequence=[{"subject": "Hi", "body": f"--{taken}"}])
    data = compose._plain_bytes(parts)
    assert f'boundary="{"=" * 15}{2:019d}=="'.encode() in data
    assert [p.get_content_type() for p in parsed(data).iter_parts()] == [
        "text/plain", "text/html"]


# Names the plain writer takes, printable ASCII (specials that make the email package
# quote a name among them), and anything, with line breaks, encoded words, non-ASCII.
WORDS = st.lists(st.sampled_from(["Ada", "O'Brien", "x-y", "#1", "a=b", "{x}"]),
                 max_size=3).map(" ".join)
PRINTABLE = list("aZ09 .,;:<>()[]\"'\\@=?!#-_~\t")
TEXT = st.one_of(WORDS, st.lists(st.sampled_from(PRINTABLE), max_size=24).map("".join),
                 st.lists(st.sampled_from(PRINTABLE + ["\r", "\n", "\x01", "=?", "ë", "✓"]),
                          max_size=24).map("".join))
NAME = st.one_of(WORDS, TEXT)
ADDRESS = st.sampled_from(["ada@acme.test", "a.b+c@x-y.example", "o'k@acme.test",
                           "a..b@acme.test", "x@acme.test."])


@settings(max_examples=400, deadline=None)
@given(from_name=NAME, to_name=NAME, subject=TEXT, text=TEXT, html_text=TEXT,
       sender=ADDRESS, recipient=ADDRESS, reply_to=st.none() | ADDRESS,
       thread_ids=st.lists(st.sampled_from(["<m1@acme.test>", "<m 2@acme.test>"]),
                           max_size=2))
def test_the_plain_writer_declines_or_agrees_byte_for_byte(from_name, to_name, subject, text,
                                                           html_text, sender, recipient,
                                                           reply_to, thread_ids):
    parts = _parts(sender=sender, from_name=from_name, recipient=recipient, to_name=to_name,
                   reply_to=reply_to, subject=subject.replace("\r", " ").replace("\n", " "),
                   thread_ids=tuple(thread_ids), text=text, html=html_text)
    try:
        package = compose._package_bytes(parts)
    except (ValueError, IndexError, TypeError, email.errors.MessageError):
        # The email package refuses the input; the dispatcher never sends it either.
        return
    plain = compose._plain_bytes(parts)
    if plain is not None:
        assert same_bytes(plain, package)


def _parts(**fields):
    defaults = {"date": "Mon, 30 Nov 2026 10:00:00 +0000", "message_id": "<msg_1@acme.test>",
                "unsubscribe": "http://h/u/tok"}
    return Parts(**{**defaults, **fields})


PLAIN_SUBJECT = st.lists(st.sampled_from(PRINTABLE), max_size=40).map("".join).filter(
    lambda s: "=?" not in s)
PLAIN_BODY = st.lists(st.sampled_from(PRINTABLE + ["\n", "\r\n", "\r", ".", "\n.\n"]),
                      max_size=60).map("".join)
PLAIN_ADDRESS = st.sampled_from(["ada@acme.test", "a.b+c@x-y.example", "o'k@acme.test"])


@settings(max_examples=200, deadline=None)
@given(from_name=WORDS, to_name=WORDS, subject=PLAIN_SUBJECT, text=PLAIN_BODY,
       html_text=PLAIN_BODY, sender=PLAIN_ADDRESS, recipient=PLAIN_ADDRESS,
       reply_to=st.none() | PLAIN_ADDRESS)
def test_plain_ascii_input_is_always_written_directly(from_name, to_name, subject, text,
                                                      html_text, sender, recipient, reply_to):
    parts = _parts(sender=sender, from_name=from_name, recipient=recipient, to_name=to_name,
                   reply_to=reply_to, subject=subject, thread_ids=("<m1@acme.test>",),
                   text=text, html=html_text)
    plain = compose._plain_bytes(parts)
    assert plain is not None
    assert same_bytes(plain, compose._package_bytes(parts))
