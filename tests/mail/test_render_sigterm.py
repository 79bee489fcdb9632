"""SIGTERM stops a real `flask dispatcher run` within a few seconds even while it is
rendering a template that would run for ever: the render's budget ends it, the claims
not yet sending are given back, and no row is left in flight."""
import signal

import pytest

from app.database import connection
from app.models import Message
from tests.sending.conftest import launch, leads_of, smtp_server  # noqa: F401 (fixtures)
from tests.sending.procs import Dispatchers, dispatcher_env, wait_until

pytestmark = pytest.mark.slow

FOREVER = ("{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}"
           "{% endfor %}{% endfor %}{% endfor %}")


def test_sigterm_mid_render_stops_the_dispatcher_and_leaves_nothing_in_flight(
        app, api, launch, smtp_server, tmp_path):  # noqa: F811
    emails = [f"lead{n}@example.com" for n in range(20)]
    campaign_id = launch(leads=[{"email": e} for e in emails],
                         sequence=[{"subject": "Hi", "body": FOREVER}])
    env = dispatcher_env(app, smtp_port=smtp_server.port, var_dir=tmp_path)
    with Dispatchers(env, tmp_path) as procs:
        worker = procs.start("--interval", "0.5")
        wait_until(lambda: any(lead["status"] == "failed"
                               for lead in leads_of(api, campaign_id)) or not worker.running(),
                   timeout=30, interval=0.1, message="the first lead to fail")
        assert worker.running(), worker.output()
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0, worker.output()
    leads = leads_of(api, campaign_id)
    failed = [lead for lead in leads if lead["status"] == "failed"]
    assert 1 <= len(failed) < len(emails)
    assert all("rendering took longer than 1 s" in lead["last_error"] for lead in failed)
    with connection():
        assert not Message.select().where(Message.status.in_(["claimed", "sending"])).count()
    assert smtp_server.messages == []
