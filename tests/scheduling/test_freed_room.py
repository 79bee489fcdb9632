"""Room given back today (a temporary failure's row is deleted: it counts against no
limit) is mail the campaign could send now: its stamp comes back to now."""
import datetime as dt

from app import database
from app.models import Campaign
from tests.conftest import STEP


def test_a_temporary_failure_under_the_daily_limit_lets_the_next_lead_go_at_once(
        launch, dispatcher, frozen, smtp_server):
    dispatcher.webhooks = dispatcher.imap = False
    campaign_id = launch(leads=[{"email": f"lead{i}@example.com"} for i in range(2)],
                         sequence=[STEP], settings={"daily_limit": 1})
    for i in range(2):  # both: whichever is claimed first is refused
        smtp_server.rcpt_replies[f"lead{i}@example.com"] = "451 4.7.1 try again later"
    summary = dispatcher.run_once()
    # Today's one mail was given back: the other lead, due, is tried in the same pass,
    # rather than a minute later with the retry.
    assert summary.retried == 2
    with database.connection():
        assert Campaign.get_by_id(campaign_id).next_send_at == (
            frozen.now() + dt.timedelta(minutes=1))
