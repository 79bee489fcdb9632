"""Public links inside sent mail: the open pixel, click redirects, unsubscribe.

No API key here: each link carries a token signed with SECRET_KEY. A forged or altered
token changes nothing and gets a 404.
"""
import base64
import html

from flask import Response, current_app, redirect
from flask.views import MethodView

from app.api.core.blueprint import Blueprint
from app.services import tracking as service

blp = Blueprint("tracking", __name__, authenticated=False,
                description="Links in sent mail (signed tokens; no API key).")

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, max-age=0"}


def _secret():
    """Every key a link may be signed with, oldest first (see app.sending.tokens)."""
    config = current_app.config
    return (*config.get("SECRET_KEY_FALLBACKS", ()), config["SECRET_KEY"])


@blp.route("/t/o/<string:token>.gif")
class OpenPixel(MethodView):
    @blp.doc(security=[], responses={"200": {"description": "A 1x1 transparent GIF.",
                                             "content": {"image/gif": {"schema": {
                                                 "type": "string", "format": "binary"}}}}})
    @blp.errors(404)
    def get(self, token):
        """Record an open (the tracking pixel)"""
        service.record_open(_secret(), token)
        return Response(PIXEL, mimetype="image/gif", headers=NO_STORE)


@blp.route("/t/c/<string:token>")
class ClickRedirect(MethodView):
    @blp.doc(security=[], responses={"302": {"description": "To the link in the message."}})
    @blp.errors(404)
    def get(self, token):
        """Record a click and redirect to the link that was in the message"""
        url = service.record_click(_secret(), token)
        return redirect(url, code=302, Response=Response)


_PAGE = ("<!doctype html><html><head><meta charset='utf-8'><title>Unsubscribed</title></head>"
         "<body><p>{text}</p></body></html>")


@blp.route("/u/<string:token>")
class Unsubscribe(MethodView):
    @blp.doc(security=[], responses={"200": {"description": "A page confirming it.",
                                             "content": {"text/html": {"schema": {
                                                 "type": "string"}}}}})
    @blp.errors(404)
    def get(self, token):
        """Unsubscribe (the link in the mail)"""
        address = service.unsubscribe(_secret(), token)
        text = html.escape(f"{address} will receive no more mail from this sender.")
        return Response(_PAGE.format(text=text), mimetype="text/html", headers=NO_STORE)

    @blp.doc(security=[], responses={"200": {"description": "Unsubscribed.",
                                             "content": {"text/plain": {"schema": {
                                                 "type": "string"}}}}})
    @blp.errors(404)
    def post(self, token):
        """Unsubscribe in one click (RFC 8058 List-Unsubscribe-Post)"""
        service.unsubscribe(_secret(), token)
        return Response("unsubscribed\n", mimetype="text/plain", headers=NO_STORE)
