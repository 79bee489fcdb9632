"""MAIL_BACKEND=file: each message as an .eml file under OUTBOX_DIR, sent by
`flask dispatcher run --once` as on a laptop."""
import email
from email import policy

import pytest

from tests.sending.conftest import campaign, lead_of

TWO_STEPS = [{"subject": "Hello {{firstName}}", "body": "Hi {{firstName}}"},
             {"subject": "", "body": "Following up", "delay": 1, "delay_unit": "days"}]


@pytest.fixture
def outbox(app, tmp_path):
    app.config["MAIL_BACKEND"] = "file"
    app.config["OUTBOX_DIR"] = str(tmp_path / "outbox")
    return tmp_path / "outbox"


@pytest.fixture
def run_once(app):
    runner = app.test_cli_runner()

    def run():
        result = runner.invoke(args=["dispatcher", "run", "--once"])
        assert result.exit_code == 0, result.output
        return result.stdout.strip()
    return run


def messages_in(outbox):
    return {path.name: email.message_from_bytes(path.read_bytes(), policy=policy.default)
            for path in sorted(outbox.glob("*.eml"))}


def test_dispatcher_once_writes_each_message_as_an_eml_file(api, launch, outbox, run_once,
                                                            frozen):
    campaign_id = launch(leads=[{"email": "grace@example.com", "first_name": "Grace"},
                                {"email": "alan@example.com", "first_name": "Alan"}],
                         sequence=TWO_STEPS)
    assert run_once() == "sent=2 retried=0 bounced=0 failed=0 released=0"
    written = messages_in(outbox)
    assert sorted(str(m["Subject"]) for m in written.values()) == ["Hello Alan", "Hello Grace"]
    for name, msg in written.items():
        assert name == msg["Message-ID"].strip("<>").replace("@", "_at_") + ".eml"
        assert msg["From"].addresses[0].addr_spec == "ada@acme.test"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert list(outbox.glob("*.tmp")) == []
    assert campaign(api, campaign_id)["stats"]["sent"] == 2
    assert lead_of(api, campaign_id, "grace@example.com")["current_step"] == 1


def test_dispatcher_once_writes_follow_ups_when_they_fall_due(api, launch, outbox, run_once,
                                                              frozen):
    campaign_id = launch(leads=[{"email": "grace@example.com", "first_name": "Grace"}],
                         sequence=TWO_STEPS)
    run_once()
    frozen.advance(hours=23)
    assert run_once().startswith("sent=0 ")
    frozen.advance(hours=1)
    assert run_once().startswith("sent=1 ")
    first, second = sorted(messages_in(outbox).values(), key=lambda m: str(m["Subject"]))
    assert str(second["Subject"]) == "Re: Hello Grace"
    assert second["In-Reply-To"] == first["Message-ID"]
    assert campaign(api, campaign_id)["status"] == "completed"


def test_dispatcher_once_with_nothing_due_writes_nothing(launch, outbox, run_once, frozen):
    launch(leads=[{"email": "grace@example.com"}], sequence=TWO_STEPS, start=False)
    assert run_once() == "sent=0 retried=0 bounced=0 failed=0 released=0"
    assert not outbox.exists() or list(outbox.iterdir()) == []
