"""Room given back today (a temporary failure's row is deleted: it counts against no
limit) is mail the campaign could send now: its stamp comes back to now."""
import pytest

from app import database
from app.models import Campaign
from tests.conftest import STEP


@pytest.mark.xfail(strict=True, reason="a temporary failure pulls the stamp to its retry "
                   "only (app.worker.delivery._retry), not to now for the room it frees")
def test_a_temporary_failure_under_the_daily_limit_lets_the_next_lead_go_at_once(
        launch, dispatcher, frozen, smtp_server):
    dispatcher.webhooks = dispatcher.imap = False
    campaign_id = launch(leads=[{"email": f"lead{i}@example.com"} for i in range(2)],
                         sequence=[STEP], settings={"daily_limit": 1})
    for i in range(2):
        smtp_server.rcpt_replies[f"lead{i}@example.com"] = "451 4.7.1 try again later"
    assert dispatcher.run_once().retried == 1  # today's one mail, given back
    smtp_server.rcpt_replies.clear()
    with database.connection():
        stamp = Campaign.get_by_id(campaign_id).next_send_at
    # The other lead is due and the day has room again: nothing it waits for.
    assert stamp <= frozen.now()
    assert dispatcher.run_once().sent == 1
