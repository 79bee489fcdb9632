"""The ceiling: bare Flask answering the very same bytes the API answers, nothing else.

gunicorn serves it with the same settings as the API, in the same run.
"""
import os

from flask import Flask, Response

app = Flask(__name__)
_BODIES = {}
for name in ("list", "detail"):
    path = os.environ.get(f"BENCH_{name.upper()}_BODY")
    if path:
        with open(path, "rb") as fh:
            _BODIES[name] = fh.read()


@app.get("/api/v1/tenant/campaigns")
def campaigns():
    return Response(_BODIES["list"], mimetype="application/json")


@app.get("/api/v1/tenant/campaigns/<campaign_id>")
def campaign(campaign_id):
    return Response(_BODIES["detail"], mimetype="application/json")
