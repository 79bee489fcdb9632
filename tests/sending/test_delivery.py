from app import database
from tests.sending.conftest import campaign, leads_of

TWO_STEPS = [
    {"subject": "Hello {{firstName}}", "body": "Hi {{ firstName | default('there') }}, "
                                               "see https://example.com/pricing"},
    {"subject": "", "body": "Following up, {{ company }}.", "delay": 2, "delay_unit": "days"},
]
ONE_LEAD = [{"email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper",
             "company": "Navy"}]


def test_start_mails_step_one_over_smtp(api, launch, dispatcher, smtp_server, frozen):
    campaign_id = launch(leads=ONE_LEAD, sequence=TWO_STEPS)
    summary = dispatcher.run_once()
    assert summary.sent == 1
    [msg] = smtp_server.parsed()
    assert msg["Subject"] == "Hello Grace"
    assert "grace@example.com" in msg["To"]
    assert msg["From"].addresses[0].addr_spec == "ada@acme.test"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert campaign(api, campaign_id)["stats"]["sent"] == 1
    [lead] = leads_of(api, campaign_id)
    assert lead["current_step"] == 1 and lead["status"] == "in_progress"


def test_follow_up_is_threaded_after_its_delay(api, launch, dispatcher, smtp_server, frozen):
    campaign_id = launch(leads=ONE_LEAD, sequence=TWO_STEPS)
    dispatcher.run_once()
    frozen.advance(days=1, hours=23)
    assert dispatcher.run_once().sent == 0
    frozen.advance(hours=1)
    assert dispatcher.run_once().sent == 1
    first, second = smtp_server.parsed()
    assert second["Subject"] == "Re: Hello Grace"
    assert second["In-Reply-To"] == first["Message-ID"]
    assert first["Message-ID"] in second["References"]
    assert campaign(api, campaign_id)["status"] == "completed"


def test_each_pass_walks_the_due_campaigns_in_its_own_order(launch, dispatcher, frozen):
    """Dispatchers running at once would otherwise all start on the same campaign and
    queue on its row lock (its counters) for every mail."""
    ids = {launch(leads=[{"email": f"lead{i}@example.com"}], sequence=TWO_STEPS[:1])
           for i in range(5)}
    with database.connection():
        orders = [dispatcher.due_campaigns(frozen.now()) for _ in range(30)]
    assert all(sorted(order) == sorted(ids) for order in orders)
    assert len({order[0] for order in orders}) > 1
