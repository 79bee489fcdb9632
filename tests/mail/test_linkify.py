"""The HTML part's linkifier: links never split an entity, and the HTML stays well-formed."""
import datetime as dt
import html
import re
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from app.mail import tokens
from app.mail.compose import Composer, linkify

# What html.escape(..., quote=False) writes, and what quote=True adds inside attributes.
TEXT = r'(?:[^&<>]|&(?:amp|lt|gt);)*'
ATTRIBUTE = r'(?:[^&<>"]|&(?:amp|lt|gt|quot|#x27);)*'
ANCHOR = re.compile(rf'<a href="({ATTRIBUTE})">({TEXT})</a>')
WELL_FORMED = re.compile(rf'(?:{TEXT}|<a href="{ATTRIBUTE}">{TEXT}</a>)*')

PIECES = st.sampled_from([
    "https://example.com", "http://example.com/a?b=1&c=2", "https://example.com/p.",
    "https://x.test/<2>", "<", ">", "&", ";", "&lt;", "&gt", "&amp;", "&#39;", '"', "'",
    ".", ",", ")", "]", " ", "\n", "2", "a", "é", "/", "?", "=", "#", "gt", "lt",
])
TEXTS = st.lists(PIECES | st.text(max_size=4), max_size=30).map("".join)


def anchor(url):
    return f'<a href="{html.escape(url, quote=True)}">{html.escape(url, quote=False)}</a>'


@given(TEXTS)
def test_the_output_is_text_and_whole_links_only(text):
    assert WELL_FORMED.fullmatch(linkify(text, anchor))


@given(TEXTS)
def test_no_entity_is_split_by_a_link(text):
    out = linkify(text, anchor)
    for run in re.split(r"</?a[^>]*>", out):
        assert re.fullmatch(TEXT, run), run


@given(TEXTS)
def test_the_text_reads_as_written_and_each_link_goes_where_its_text_says(text):
    out = linkify(text, anchor)
    assert html.unescape(re.sub(r"</?a[^>]*>", "", out)) == text
    for href, shown in ANCHOR.findall(out):
        assert html.unescape(href) == html.unescape(shown)
        assert html.unescape(href).startswith(("http://", "https://"))


def test_a_url_followed_by_an_angle_bracket_ends_before_it():
    out = linkify("see https://x.test/a<2> now", anchor)
    assert out == 'see <a href="https://x.test/a">https://x.test/a</a>&lt;2&gt; now'


def test_an_ampersand_in_a_url_is_escaped_once_in_the_text_and_the_href():
    out = linkify("https://x.test/?a=1&b=2", anchor)
    assert out == '<a href="https://x.test/?a=1&amp;b=2">https://x.test/?a=1&amp;b=2</a>'


def html_part(body, **settings):
    composer = Composer(base_url="http://127.0.0.1:8000", secret="test-secret")
    lead = SimpleNamespace(id="lead_x", workspace_id="ws_x", email="grace@example.com",
                           first_name="Grace", last_name=None, variables=lambda: {})
    parts, _subject = composer.parts(
        settings={"from_email": "ada@acme.test", **settings},
        sequence=[{"subject": "Hi", "body": body}], step_number=1, lead=lead,
        message_pk="msg_x", message_id="<m@acme.test>", thread_ids=(),
        sent_at=dt.datetime(2026, 12, 1, 10, 0))
    return parts.html


def test_the_html_part_keeps_entities_whole_next_to_a_link():
    part = html_part("Compare https://x.test/a<2> and 1 < 2")
    assert "&gt</a>" not in part
    assert '<a href="https://x.test/a">https://x.test/a</a>&lt;2&gt; and 1 &lt; 2' in part


def test_a_tracked_link_goes_to_the_url_as_written():
    part = html_part("https://x.test/?a=1&b=2", track_clicks=True)
    [token] = re.findall(r'<a href="http://127\.0\.0\.1:8000/t/c/([^"]+)">', part)
    assert tokens.read("test-secret", "click", html.unescape(token)) == ["msg_x",
                                                                          "https://x.test/?a=1&b=2"]
    assert ">https://x.test/?a=1&amp;b=2</a>" in part
