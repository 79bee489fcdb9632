"""Every message is written by the email package's own generator: what goes out parses
back to what was composed, whatever the names, subject and body hold."""
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


def parsed(data):
    return email.message_from_bytes(data, policy=policy.default)


# Link tokens are encrypted with a random IV: two builds of one message differ there.
TOKEN = re.compile(r"/(u|t/[oc])/[A-Za-z0-9_-]+")


def summary(data):
    """What a reader of the message sees: decoded headers, part types and contents (link
    tokens left out)."""
    msg = parsed(data)
    headers = [(name, TOKEN.sub(r"/\1/T", str(value))) for name, value in msg.items()
               if name != "Content-Type"]
    bodies = [(part.get_content_type(), TOKEN.sub(r"/\1/T", part.get_content()))
              for part in msg.iter_parts()]
    return msg.get_content_type(), headers, bodies


def build(**change):
    settings_ = {**SETTINGS, **change.pop("settings_", {})}
    sequence = change.pop("sequence", SEQUENCE)
    outgoing, _ = Composer(base_url="http://127.0.0.1:8000", secret="s3cret").build(
        settings=settings_, sequence=sequence, step_number=1, lead=lead(**change),
        message_pk="msg_1", message_id="<msg_1@acme.test>", thread_ids=[], sent_at=SENT_AT)
    return outgoing


@pytest.mark.parametrize("change", [
    {}, {"first_name": "Zoë", "last_name": "Ångström"}, {"last_name": "Smith Jr."},
    {"settings_": {"from_name": "Acme, Inc."}},
    {"sequence": [{"subject": "Grüße, {{firstName}}", "body": "Hallo {{firstName}} ✓"}]},
    {"sequence": [{"subject": "=?utf-8?q?x?=", "body": "Hi"}]},
    {"sequence": [{"subject": "Hi", "body": "x" * 1200}]},
    {"sequence": [{"subject": "Hi " + "y" * 950, "body": "Hi"}]},
])
def test_the_message_is_the_email_packages_and_reads_back_as_composed(change):
    parts = parts_for(**change)
    outgoing = build(**dict(change))
    assert summary(outgoing.data) == summary(compose.message_bytes(parts))
    assert summary(outgoing.data) == summary(compose.email_message(parts).as_bytes())
    msg = parsed(outgoing.data)
    assert msg["Message-ID"] == "<msg_1@acme.test>"
    assert all(line.endswith(b"\r") or not line for line in outgoing.data.split(b"\n"))
    assert max(map(len, outgoing.data.split(b"\r\n"))) <= 998


# Names, printable ASCII (specials that make the email package quote a name among
# them), and anything, with line breaks, encoded words, non-ASCII.
WORDS = st.lists(st.sampled_from(["Ada", "O'Brien", "x-y", "#1", "a=b", "{x}"]),
                 max_size=3).map(" ".join)
PRINTABLE = list("aZ09 .,;:<>()[]\"'\\@=?!#-_~\t")
TEXT = st.one_of(WORDS, st.lists(st.sampled_from(PRINTABLE), max_size=24).map("".join),
                 st.lists(st.sampled_from(PRINTABLE + ["\r", "\n", "\x01", "=?", "ë", "✓"]),
                          max_size=24).map("".join))
NAME = st.one_of(WORDS, TEXT)
ADDRESS = st.sampled_from(["ada@acme.test", "a.b+c@x-y.example", "o'k@acme.test",
                           "a..b@acme.test", "x@acme.test."])


@settings(max_examples=200, deadline=None)
@given(from_name=NAME, to_name=NAME, subject=TEXT, text=TEXT, html_text=TEXT,
       sender=ADDRESS, recipient=ADDRESS, reply_to=st.none() | ADDRESS,
       thread_ids=st.lists(st.sampled_from(["<m1@acme.test>", "<m 2@acme.test>"]),
                           max_size=2))
def test_whatever_the_package_writes_reads_back_the_same(from_name, to_name, subject, text,
                                                         html_text, sender, recipient,
                                                         reply_to, thread_ids):
    parts = _parts(sender=sender, from_name=from_name, recipient=recipient, to_name=to_name,
                   reply_to=reply_to, subject=subject.replace("\r", " ").replace("\n", " "),
                   thread_ids=tuple(thread_ids), text=text, html=html_text)
    try:
        data = compose.message_bytes(parts)
    except (ValueError, IndexError, TypeError, email.errors.MessageError):
        # The email package refuses the input; the dispatcher fails that lead instead.
        return
    msg = parsed(data)
    assert msg["Message-ID"] == parts.message_id
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert max(map(len, data.split(b"\r\n"))) <= 998


def _parts(**fields):
    defaults = {"date": "Mon, 30 Nov 2026 10:00:00 +0000", "message_id": "<msg_1@acme.test>",
                "unsubscribe": "http://h/u/tok"}
    return Parts(**{**defaults, **fields})


@pytest.mark.parametrize("field", ["from_name", "to_name", "reply_to"])
@pytest.mark.parametrize("line_break", ["\r", "\n", "\u2028", "\x85", "\x0b"])
def test_a_line_break_in_a_header_value_is_refused_never_written(field, line_break):
    # Written through, "\t\ra" as a From name ended the headers early: the Message-ID
    # and everything after it went into the body.
    value = f"Eve{line_break}Bcc: victim@example.com"
    if field == "reply_to":
        value = f"eve@acme.test{line_break}Bcc: victim@example.com"
    fields = {"sender": "ada@acme.test", "from_name": "Ada", "recipient": "grace@example.com",
              "to_name": "Grace", "reply_to": None, "subject": "Hello", "thread_ids": (),
              "text": "Hi", "html": "<p>Hi</p>", field: value}
    parts = _parts(**fields)

    with pytest.raises(ValueError):
        compose.message_bytes(parts)


@pytest.mark.parametrize("text", ["=?utf-8?q?x?=", "Zoë =?utf-8?b?eA==?="])
def test_text_that_looks_like_an_encoded_word_reads_back_as_written(text):
    parts = _parts(sender="ada@acme.test", from_name=text, recipient="grace@example.com",
                   to_name=text, reply_to=None, subject=text, thread_ids=(), text="Hi",
                   html="<p>Hi</p>")
    msg = parsed(compose.message_bytes(parts))
    assert msg["Subject"] == text
    assert msg["From"].addresses[0].display_name == text
    assert msg["To"].addresses[0].display_name == text


def test_a_body_with_a_line_over_the_smtp_limit_is_encoded_to_fit():
    parts = parts_for(sequence=[{"subject": "Hi", "body": "Grüße " + "x" * 1200}])
    data = compose.message_bytes(parts)
    assert max(map(len, data.split(b"\r\n"))) <= 998
    assert "Grüße " + "x" * 1200 in parsed(data).get_body(("plain",)).get_content()
