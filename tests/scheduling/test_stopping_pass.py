"""A stopping dispatcher claims no further campaign: the rest stay due, unclaimed."""
from tests.conftest import STEP


def test_a_stopping_pass_leaves_the_other_campaigns_unclaimed(launch, dispatcher, frozen):
    for name in ("a", "b"):
        launch(leads=[{"email": f"{name}{i}@example.com"} for i in range(3)], sequence=[STEP])
    dispatcher.webhooks = dispatcher.imap = False
    send = dispatcher.mailer.send

    def send_then_stop(message, *, sender, recipient):
        send(message, sender=sender, recipient=recipient)
        dispatcher.stop()

    dispatcher.mailer.send = send_then_stop
    summary = dispatcher.run_once()
    # The mail in flight went out, its campaign's two other claims were given back,
    # and the other campaign was never claimed at all.
    assert (summary.sent, summary.released) == (1, 2)
