"""Mailbox servers a tenant names: loopback and private addresses refused before any
connection, a whole-session bound on /test, large IMAP messages passed by, and the
password never stored in imap_error."""
import contextlib
import ipaddress
import logging
import socket
import threading
import time
from email.message import EmailMessage

import pytest
from imapclient import IMAPClient

from app import clock, database
from app.services import imap_poll
from app.services.mailboxes import REFUSED_HOST, refused_address
from tests.mailboxes.conftest import BASE, PASSWORD, USER, mailbox_body, stored


@pytest.fixture
def listener():
    """A loopback socket that listens and accepts nothing itself: ``accepted()`` says
    whether anyone connected."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)

    class Listener:
        port = sock.getsockname()[1]

        @staticmethod
        def accepted():
            try:
                sock.accept()[0].close()
            except BlockingIOError:
                return False
            return True
    yield Listener
    sock.close()


def _serve(handler):
    """A one-connection TCP server on loopback running ``handler(conn)``: its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def run():
        conn, _ = server.accept()
        # The client may hang up first.
        with conn, contextlib.suppress(OSError):
            handler(conn)
        server.close()
    threading.Thread(target=run, daemon=True).start()
    return server.getsockname()[1]


def _imap_mailbox(api, tenant, port):
    imap = {"host": "127.0.0.1", "port": port, "security": "none", "username": USER,
            "password": PASSWORD, "folder": "INBOX"}
    response = api.post(BASE, json=mailbox_body(tenant.slug, imap=imap))
    assert response.status_code == 201, response.json
    return response.json["data"]["id"]


def _poll(**options):
    clock.advance(hours=1)
    with database.connection():
        return imap_poll.poll_due(lambda raw, mailbox: None, timeout=5, concurrency=1,
                                  **options)


@pytest.mark.parametrize("text", [
    "127.0.0.1", "10.1.2.3", "192.168.0.1", "172.16.0.1", "169.254.169.254", "0.0.0.0",
    "224.0.0.1", "240.0.0.1", "::1", "::", "fe80::1", "fc00::1",
    "::ffff:127.0.0.1",            # IPv4-mapped
    "2002:7f00:1::1",              # 6to4 of 127.0.0.1
    "2002:a00:1::1",               # 6to4 of 10.0.0.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo (client 10.0.0.1)
    "64:ff9b::a00:1",              # NAT64 of 10.0.0.1
    "64:ff9b::7f00:1",             # NAT64 of 127.0.0.1
])
def test_local_and_private_addresses_are_refused(text):
    assert refused_address(ipaddress.ip_address(text)) is True


@pytest.mark.parametrize("text", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
def test_global_addresses_are_allowed(text):
    assert refused_address(ipaddress.ip_address(text)) is False


def test_smtp_test_refuses_a_loopback_host_without_connecting(api, tenant, app, listener):
    app.config["MAILBOX_ALLOW_PRIVATE"] = False
    body = mailbox_body(tenant.slug, smtp={"host": "127.0.0.1", "port": listener.port,
                                           "security": "none"})
    mailbox = api.post(BASE, json=body).json["data"]

    response = api.post(f"{BASE}/{mailbox['id']}/test")

    assert response.status_code == 200, response.json
    assert response.json["data"] == {"smtp": {"ok": False, "error": REFUSED_HOST},
                                     "imap": None}
    assert listener.accepted() is False


def test_localhost_by_name_is_refused_for_imap_too(api, tenant, app, listener):
    app.config["MAILBOX_ALLOW_PRIVATE"] = False
    imap = {"host": "localhost", "port": listener.port, "security": "starttls",
            "username": USER, "password": PASSWORD}
    body = mailbox_body(tenant.slug, smtp={"host": "localhost", "port": listener.port},
                        imap=imap)
    mailbox = api.post(BASE, json=body).json["data"]

    data = api.post(f"{BASE}/{mailbox['id']}/test").json["data"]

    assert data == {"smtp": {"ok": False, "error": REFUSED_HOST},
                    "imap": {"ok": False, "error": REFUSED_HOST}}
    assert listener.accepted() is False


def test_poller_refuses_a_loopback_host_without_connecting(api, tenant, listener):
    mailbox_id = _imap_mailbox(api, tenant, listener.port)

    assert _poll() == 0  # allow_private defaults to False

    mailbox = stored(mailbox_id)
    assert mailbox.imap_error == REFUSED_HOST
    assert mailbox.imap_failures == 1 and mailbox.lease_token is None
    assert listener.accepted() is False


def test_a_server_that_trickles_its_answer_times_out_as_a_whole(api, tenant, app):
    app.config["MAILBOX_TEST_TIMEOUT"] = 1.0

    def trickle(conn):
        conn.sendall(b"220 slow.test ESMTP\r\n")
        conn.recv(1024)  # EHLO
        for _ in range(100):  # one line every 0.1 s: no single read ever waits 1 s
            conn.sendall(b"250-still here\r\n")
            time.sleep(0.1)
    port = _serve(trickle)
    body = mailbox_body(tenant.slug, smtp={"host": "127.0.0.1", "port": port,
                                           "security": "none"})
    mailbox = api.post(BASE, json=body).json["data"]

    smtp = api.post(f"{BASE}/{mailbox['id']}/test").json["data"]["smtp"]

    assert smtp["ok"] is False
    assert "timed out" in smtp["error"]


def test_poll_error_never_holds_the_password_a_server_echoes(api, tenant, caplog):
    caplog.set_level(logging.DEBUG, logger="app")

    def echo_password(conn):
        conn.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")
        reader = conn.makefile("rb")
        for line in reader:
            tag = line.split(b" ", 1)[0]
            if b" CAPABILITY" in line.upper():
                conn.sendall(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK done\r\n")
            elif b" LOGIN " in line.upper():
                conn.sendall(tag + b" NO Login failed for " + line.split()[-1] + b"\r\n")
            else:
                conn.sendall(b"* BYE\r\n" + tag + b" OK done\r\n")
                return
    port = _serve(echo_password)
    mailbox_id = _imap_mailbox(api, tenant, port)

    _poll(allow_private=True)

    error = stored(mailbox_id).imap_error
    assert "refused the username or password" in error
    assert "[password]" in error
    assert PASSWORD not in error
    assert PASSWORD not in caplog.text


def _append(port, subject, body):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "grace@example.com", USER, subject
    message.set_content(body)
    with IMAPClient("127.0.0.1", port=port, ssl=False) as client:
        client.login(USER, PASSWORD)
        client.append("INBOX", message.as_bytes())


def test_a_message_over_max_bytes_is_passed_by_and_logged(api, tenant, dovecot, caplog):
    caplog.set_level(logging.WARNING, logger="app.imap")
    mailbox_id = _imap_mailbox(api, tenant, dovecot)
    _append(dovecot, "big", "x" * 5000)
    _append(dovecot, "small", "Thanks, interested.")
    seen = []
    clock.advance(hours=1)
    with database.connection():
        read = imap_poll.poll_due(lambda raw, mailbox: seen.append(raw), timeout=5,
                                  concurrency=1, max_bytes=2000, allow_private=True)

    assert read == 1
    assert len(seen) == 1 and b"Subject: small" in seen[0]
    assert stored(mailbox_id).last_uid == 2  # the big one is not read again
    skipped = [r for r in caplog.records if r.getMessage() == "imap message too large, skipped"]
    assert [r.fields["uid"] for r in skipped] == [1]
    assert skipped[0].fields["mailbox"] == mailbox_id
