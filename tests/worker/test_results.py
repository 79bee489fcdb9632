"""What the worker's steps hand back: a ClaimBatch from a claim, a Delivery from a send."""
from app import database
from app.lifecycle import LeadStatus, MessageStatus
from app.models import Lead, Message
from app.services import outcomes
from app.worker.claims import ClaimBatch
from app.worker.delivery import Delivery

SEQUENCE = [{"subject": "Hello {{firstName}}", "body": "Hi"}]
LEADS = [{"email": "ada@example.com"}, {"email": "bea@example.com"},
         {"email": "gone@example.com"}]


def test_a_claim_counts_the_leads_it_took_off_the_due_list_without_mail(launch, dispatcher,
                                                                         frozen):
    campaign_id = launch(leads=LEADS, sequence=SEQUENCE)
    with database.connection():
        outcomes.suppress(Lead.get(Lead.email == "gone@example.com").workspace_id,
                          "gone@example.com", "unsubscribed", frozen.now())

        batch = dispatcher.claim(campaign_id, frozen.now())

        assert isinstance(batch, ClaimBatch)
        assert sorted(c.lead.email for c in batch.claims) == ["ada@example.com",
                                                               "bea@example.com"]
        assert batch.handled == 3  # two claims and the suppressed lead
        assert Lead.get(Lead.email == "gone@example.com").status == LeadStatus.UNSUBSCRIBED
        assert {m.status for m in Message.select()} == {MessageStatus.CLAIMED}


def test_a_claim_of_a_paused_campaign_is_an_empty_batch(api, launch, dispatcher, frozen):
    campaign_id = launch(leads=LEADS, sequence=SEQUENCE)
    assert api.post(f"/api/v1/tenant/campaigns/{campaign_id}/send",
                    json={"action": "pause"}).status_code == 200
    with database.connection():
        assert dispatcher.claim(campaign_id, frozen.now()) == ClaimBatch([], 0)


def test_a_delivery_says_whether_the_next_claim_started_with_it(launch, dispatcher,
                                                               smtp_server, frozen):
    campaign_id = launch(leads=LEADS[:2], sequence=SEQUENCE)
    with database.connection():
        first, second = dispatcher.claim(campaign_id, frozen.now()).claims
        assert dispatcher.start(first)

        assert dispatcher.deliver(first, following=second) == Delivery("sent", True)
        assert Message.get_by_id(second.message_pk).status == MessageStatus.SENDING
        assert dispatcher.deliver(second) == Delivery("sent", False)
    dispatcher.mailer.close()  # run_once closes it at the end of a pass
    assert len(smtp_server.messages) == 2
