"""Hypothesis strategies the contract runs share (in-process and against a live server)."""
from email.message import EmailMessage

import schemathesis
from hypothesis import strategies as st


@st.composite
def rfc822_messages(draw):
    """Mail as a provider posts it: a plain message, an answer to one, or raw bytes."""
    words = st.text(st.characters(codec="ascii", min_codepoint=32, max_codepoint=126),
                    max_size=40)
    message = EmailMessage()
    message["From"] = draw(st.sampled_from(["grace@example.com", "Grace <g@example.org>"]))
    message["To"] = "replies@acme.test"
    message["Subject"] = draw(st.sampled_from(["Re: Hello", "Automatic reply", ""]) | words)
    if draw(st.booleans()):
        message["In-Reply-To"] = draw(st.sampled_from(
            ["<msg_01jd3v0m4h8x3q2w9e7r6t5y40@acme.test>", "<unknown@example.com>"]) | words)
    message.set_content(draw(words))
    return draw(st.sampled_from([bytes(message)]) | st.binary(max_size=200))


schemathesis.openapi.media_type("message/rfc822", rfc822_messages())


def steer(case, slug):
    """A valid generated body aimed at what exists: the workspace ``slug`` and a real
    time zone, so creates and settings changes succeed too (both contract runs)."""
    body = case.body
    if "workspace_slug" in body:
        body["workspace_slug"] = slug
    settings = body.get("settings")
    if isinstance(settings, dict) and "timezone" in settings:
        settings["timezone"] = "Europe/Paris"
    return case
