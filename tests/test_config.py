"""Settings read from the environment."""
from app.config import Config


def test_earlier_secret_keys_are_read_comma_separated(monkeypatch):
    monkeypatch.setenv("SECRET_KEY_FALLBACKS", " oldest , , older,")
    assert Config().SECRET_KEY_FALLBACKS == ["oldest", "older"]


def test_no_earlier_secret_keys_by_default(monkeypatch):
    monkeypatch.delenv("SECRET_KEY_FALLBACKS", raising=False)
    assert Config().SECRET_KEY_FALLBACKS == []
