"""The TLS context of mailbox connections is built once per trust store, not per
connection (loading the store is most of a poll's work: bench/imap_poll.py)."""
from app.mail.mailers import tls_context


def test_connections_share_one_context():
    assert tls_context() is tls_context()


def test_another_trust_store_gets_its_own_context(trust_certificate):
    cert, _key = trust_certificate
    context = tls_context()
    assert context is tls_context()
    assert any(c["subject"] == ((("commonName", "localhost"),),)
               for c in context.get_ca_certs())
