"""A template over its rendering budget fails its own lead with the reason; the pass
goes on and another campaign's mail is sent (a real dispatcher pass, aiosmtpd)."""
import pytest

from app.mail.compose import Composer
from tests.sending.conftest import (  # noqa: F401 (fixtures)
    dispatcher,
    frozen,
    launch,
    lead_of,
    smtp_server,
)

SLOW = ("{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}"
        "{% endfor %}{% endfor %}{% endfor %}")
LARGE = "{% for i in range(1000) %}{{ 'x' * 1000 }}{% endfor %}"


@pytest.fixture
def budgeted(app, dispatcher):  # noqa: F811
    dispatcher.composer = Composer(base_url=app.config["BASE_URL"],
                                   secret=app.config["SECRET_KEY"], render_seconds=0.2,
                                   render_max_bytes=64 * 1024)
    return dispatcher


@pytest.mark.parametrize("body, reason", [
    (SLOW, "rendering took longer than 0.2 s"),
    (LARGE, "the rendered body is larger than 64 KiB"),
], ids=["time", "size"])
def test_a_lead_over_the_budget_fails_with_the_reason_and_the_pass_goes_on(
        api, launch, budgeted, smtp_server, frozen, body, reason):  # noqa: F811
    hostile = launch(leads=[{"email": "grace@example.com"}],
                     sequence=[{"subject": "Hi", "body": body}])
    fine = launch(leads=[{"email": "alan@example.com"}],
                  sequence=[{"subject": "Hello", "body": "Hi {{ firstName }}"}])
    summary = budgeted.run_once()
    assert (summary.sent, summary.failed) == (1, 1)
    failed = lead_of(api, hostile, "grace@example.com")
    assert failed["status"] == "failed"
    assert reason in failed["last_error"]
    assert lead_of(api, fine, "alan@example.com")["status"] != "failed"
    assert [m["To"].addresses[0].addr_spec for m in smtp_server.parsed()] == [
        "alan@example.com"]


def test_composer_from_config_reads_the_budget_settings(app):
    composer = Composer.from_config({**app.config, "RENDER_SECONDS": 0.5,
                                     "RENDER_MAX_BYTES": 1000})
    assert (composer.render_seconds, composer.render_max_bytes) == (0.5, 1000)
    assert (app.config["RENDER_SECONDS"], app.config["RENDER_MAX_BYTES"]) == (1.0, 262144)
