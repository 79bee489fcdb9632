"""docs/examples/reply.eml, the README's inbound example, does what the README says."""
import pathlib

from tests.sending.conftest import lead_of
from tests.sending.test_inbound import GRACE, stats

EXAMPLE = pathlib.Path(__file__).parents[2] / "docs" / "examples" / "reply.eml"
PLACEHOLDER = b"<MESSAGE-ID>"


def test_the_example_reply_with_the_real_message_id_marks_the_lead_replied(api, inbound,
                                                                           mailed):
    campaign_id, message_id = mailed()
    example = EXAMPLE.read_bytes()
    assert example.count(PLACEHOLDER) == 2  # In-Reply-To and References
    response = inbound(example.replace(PLACEHOLDER, message_id.encode()))
    lead = lead_of(api, campaign_id, GRACE)
    assert response.status_code == 200
    assert response.json["data"] == {"outcome": "reply", "lead_id": lead["id"]}
    assert lead["status"] == "replied"
    assert stats(api, campaign_id)["replied"] == 1


def test_the_example_reply_as_shipped_is_ignored(api, inbound, mailed):
    campaign_id, _message_id = mailed()
    response = inbound(EXAMPLE.read_bytes())
    assert response.status_code == 200
    assert response.json["data"] == {"outcome": "ignored", "lead_id": None}
    assert stats(api, campaign_id)["replied"] == 0
