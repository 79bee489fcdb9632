"""The development SMTP server make run starts: AUTH without TLS for its one login, each
mail written to its folder, loopback only."""
import email
import email.policy
import smtplib

import pytest

from app.mail import devsmtp
from tests.mailboxes.conftest import free_port

USER, PASSWORD = "ada@acme.test", "dev-mailbox-password"
MESSAGE = (b"From: Ada <ada@acme.test>\r\nTo: grace@example.com\r\nSubject: Hello\r\n"
           b"Message-ID: <1@acme.test>\r\n\r\nHi Grace.\r\n")


@pytest.fixture
def server(tmp_path):
    controller = devsmtp.controller(tmp_path / "mailbox", username=USER, password=PASSWORD,
                                    port=free_port())
    controller.start()
    yield controller
    controller.stop()


def client(server):
    return smtplib.SMTP("127.0.0.1", server.port, timeout=10)


def files(server):
    folder = server.handler.directory
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_the_right_password_logs_in_and_the_mail_is_written_as_it_came(server, mechanism):
    with client(server) as smtp:
        smtp.ehlo()
        assert "starttls" not in smtp.esmtp_features  # no TLS on loopback
        smtp.user, smtp.password = USER, PASSWORD
        assert smtp.auth(mechanism, getattr(smtp, f"auth_{mechanism.lower()}"))[0] == 235
        smtp.sendmail(USER, ["grace@example.com"], MESSAGE)

    [path] = files(server)
    assert path.suffix == ".eml"
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message["From"].addresses[0].addr_spec == USER
    assert message["Subject"] == "Hello"
    assert message.get_content().strip() == "Hi Grace."


def test_a_wrong_password_is_refused_and_nothing_is_written(server):
    with client(server) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login(USER, PASSWORD + "x")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login("grace@example.com", PASSWORD)
        with pytest.raises(smtplib.SMTPSenderRefused):  # no mail without a login
            smtp.sendmail(USER, ["grace@example.com"], MESSAGE)
    assert files(server) == []


def test_two_mails_are_two_files(server):
    with client(server) as smtp:
        smtp.login(USER, PASSWORD)
        smtp.sendmail(USER, ["grace@example.com"], MESSAGE)
        smtp.sendmail(USER, ["alan@example.com"], MESSAGE)
    assert len(files(server)) == 2
    assert [p for p in files(server) if p.suffix != ".eml"] == []  # no temporary left


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "smtp.acme.test"])
def test_it_refuses_to_listen_beyond_loopback(tmp_path, host):
    with pytest.raises(ValueError, match="loopback only"):
        devsmtp.controller(tmp_path, username=USER, password=PASSWORD, host=host)


def test_the_command_refuses_a_public_address_before_listening(app, tmp_path):
    password = tmp_path / "password"
    password.write_text(PASSWORD + "\n")
    result = app.test_cli_runner().invoke(args=[
        "dev", "smtp", "--host", "0.0.0.0", "--user", USER, "--password-file", str(password),
        "--dir", str(tmp_path / "mailbox")])
    assert result.exit_code == 2
    assert "loopback only" in result.output
