"""The README's webhook receiver, run as written against real signed deliveries."""
import re
import threading

import pytest
from werkzeug.serving import make_server

from app.config import ROOT
from app.models import WebhookDelivery
from app.services import webhook_delivery, webhooks

SNIPPET = re.compile(r"this exact snippet runs in `tests/activity`\):\n\n```python\n(.*?)```",
                     re.S)


def readme_snippet():
    match = SNIPPET.search((ROOT / "README.md").read_text())
    assert match, "the README's receiver snippet is gone"
    return match.group(1)


@pytest.fixture
def serve_snippet(monkeypatch):
    """Run the README's code with WEBHOOK_SECRET set; serve its app on loopback."""
    servers = []

    def start(secret):
        monkeypatch.setenv("WEBHOOK_SECRET", secret)
        namespace = {"__name__": "receiver"}
        exec(compile(readme_snippet(), "README.md", "exec"), namespace)  # noqa: S102
        server = make_server("127.0.0.1", 0, namespace["app"], threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/hooks/campaigns"
    yield start
    for server in servers:
        server.shutdown()


def deliver_test_event(api, create_webhook, receiver_for):
    """Create a webhook, point it at ``receiver_for(its secret)``, send it a test event;
    return the delivery as recorded."""
    webhook = create_webhook("http://127.0.0.1:9/unused")  # its secret comes first
    url = receiver_for(webhook["secret"])
    assert api.patch(f"/api/v1/tenant/webhooks/{webhook['id']}",
                     json={"url": url}).status_code == 200
    response = api.post(f"/api/v1/tenant/webhooks/{webhook['id']}/test")
    assert response.status_code == 202
    webhook_delivery.deliver_due(allow_http=True, allow_private=True)
    return WebhookDelivery.get_by_id(response.json["data"]["id"])


def test_the_readme_receiver_accepts_a_signed_delivery(api, create_webhook, serve_snippet,
                                                      capsys):
    delivery = deliver_test_event(api, create_webhook, serve_snippet)
    assert (delivery.status, delivery.last_status_code) == ("delivered", 204)
    assert f"{delivery.event_id} webhook.test" in capsys.readouterr().out


def test_the_readme_receiver_refuses_a_delivery_signed_with_another_secret(
        api, create_webhook, serve_snippet):
    delivery = deliver_test_event(api, create_webhook,
                                  lambda _secret: serve_snippet(webhooks.new_secret()))
    assert delivery.last_status_code == 400
    assert delivery.status != "delivered"
