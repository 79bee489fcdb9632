"""Public links inside sent mail: the open pixel, click redirects, unsubscribe.

No API key here: each link carries a token encrypted with a key from SECRET_KEY. A forged or altered
token changes nothing and gets a 404.
"""
import base64
import html

from flask import Response, current_app, redirect
from flask.views import MethodView

from app.api.core.blueprint import Blueprint
from app.services import tracking as service

blp = Blueprint("tracking", __name__, authenticated=False,
                description="Links in sent mail (encrypted tokens; no API key).")

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, max-age=0"}


def _secret():
    """Every key a link may be encrypted or signed with, oldest first (see app.mail.tokens)."""
    config = current_app.config
    return (*config.get("SECRET_KEY_FALLBACKS", ()), config["SECRET_KEY"])


@blp.route("/t/o/<string:token>.gif")
class OpenPixel(MethodView):
    @blp.doc(security=[], operationId="recordOpen",
             responses={"200": {"description": "A 1x1 transparent GIF.",
                                             "content": {"image/gif": {"schema": {
                                                 "type": "string", "format": "binary"}}}}})
    @blp.errors(404)
    def get(self, token):
        """Record an open (the tracking pixel)

        Mail clients load it when a message with open tracking is shown.
        """
        service.record_open(_secret(), token)
        return Response(PIXEL, mimetype="image/gif", headers=NO_STORE)


@blp.route("/t/c/<string:token>")
class ClickRedirect(MethodView):
    @blp.doc(security=[], operationId="recordClick",
             responses={"302": {"description": "To the link in the message."}})
    @blp.errors(404)
    def get(self, token):
        """Record a click and redirect to the link that was in the message

        Links of a campaign with click tracking point here.
        """
        url = service.record_click(_secret(), token)
        return redirect(url, code=302, Response=Response)


# The pages behind an unsubscribe link: no script, no outside resource, no referrer
# (the URL holds the token), never cached or indexed.
PAGE_HEADERS = {**NO_STORE, "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex",
                "Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; "
                                            "form-action 'self'; frame-ancestors 'none'")}
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;
background:#f4f5f7;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222}}
main{{background:#fff;max-width:26rem;margin:1rem;padding:2rem;border-radius:12px;
box-shadow:0 2px 12px rgba(0,0,0,.08);text-align:center}}
h1{{font-size:1.25rem;margin:0 0 1rem}}
button{{font:inherit;padding:.6rem 1.4rem;border:0;border-radius:8px;background:#2456d6;
color:#fff;cursor:pointer}}
button:hover{{background:#1b44ad}}
</style></head>
<body><main>{content}</main></body></html>
"""
_ASK = """<h1>Unsubscribe from {sender}?</h1>
<p>{address} will receive no more mail from {sender}.</p>
<form method="post" action="">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form>"""
_DONE = """<h1>You are unsubscribed</h1>
<p>{address} will receive no more mail from this sender.</p>"""
_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}


def _page(title, content):
    return Response(_PAGE.format(title=title, content=content), mimetype="text/html",
                    headers=PAGE_HEADERS)


@blp.route("/u/<string:token>")
class Unsubscribe(MethodView):
    @blp.doc(security=[], operationId="showUnsubscribePage", responses={"200": {
        "description": "A page asking to confirm, with one button that POSTs to this URL. "
                       "Changes nothing: mail scanners fetch links.", **_HTML}})
    @blp.errors(404)
    def get(self, token):
        """Ask to confirm an unsubscribe (the link in the mail)

        The page shows the sender and the masked address, and a button that POSTs here.
        """
        link = service.unsubscribe_link(_secret(), token)
        return _page("Unsubscribe", _ASK.format(sender=html.escape(link.sender),
                                                address=html.escape(link.masked_address)))

    @blp.doc(security=[], operationId="unsubscribe",
             responses={"200": {"description": "Unsubscribed: a page saying so.",
                                             **_HTML}})
    @blp.errors(404)
    def post(self, token):
        """Unsubscribe: the page's button, or one click (RFC 8058 List-Unsubscribe-Post)

        The address gets no more mail from the sender's workspace.
        """
        address = service.unsubscribe(_secret(), token)
        return _page("Unsubscribed",
                     _DONE.format(address=html.escape(service.mask(address))))
