"""Settings read from the environment, one table of them."""
import pytest

from app.config import ROOT, SETTINGS, Config


def test_earlier_secret_keys_are_read_comma_separated(monkeypatch):
    monkeypatch.setenv("SECRET_KEY_FALLBACKS", " oldest , , older,")
    assert Config().SECRET_KEY_FALLBACKS == ["oldest", "older"]


def test_no_earlier_secret_keys_by_default(monkeypatch):
    monkeypatch.delenv("SECRET_KEY_FALLBACKS", raising=False)
    assert Config().SECRET_KEY_FALLBACKS == []


def test_defaults_serve_a_laptop():
    config = Config(environ={})
    assert f"sqlite:///{ROOT / 'var' / 'campaigns.db'}" == config.DATABASE_URL
    assert str(ROOT / "var" / "outbox") == config.OUTBOX_DIR
    assert config.SMTP_PORT == 25
    assert config.SMTP_STARTTLS is False
    assert config.SMTP_USERNAME is None
    assert config.DISPATCH_INTERVAL == 5.0
    assert config.MAX_CONTENT_LENGTH == 1024 * 1024


def test_each_type_is_read_from_its_text():
    config = Config(environ={"SMTP_PORT": "2525", "DISPATCH_INTERVAL": "0.5",
                             "SMTP_SSL": "Yes", "SMTP_STARTTLS": "0", "LOG_LEVEL": "DEBUG"})
    assert (config.SMTP_PORT, config.DISPATCH_INTERVAL) == (2525, 0.5)
    assert (config.SMTP_SSL, config.SMTP_STARTTLS) == (True, False)
    assert config.LOG_LEVEL == "DEBUG"


def test_an_empty_variable_counts_as_unset():
    config = Config(environ={"SMTP_PORT": "", "SECRET_KEY": "", "SMTP_STARTTLS": ""})
    assert config.SMTP_PORT == 25
    assert config.SECRET_KEY == "dev-only-secret-change-me"
    assert config.SMTP_STARTTLS is False


def test_a_number_that_is_not_one_names_the_setting():
    with pytest.raises(ValueError, match="SMTP_PORT must be int, not 'twenty-five'"):
        Config(environ={"SMTP_PORT": "twenty-five"})


def test_base_url_loses_its_trailing_slash():
    assert Config(environ={"BASE_URL": "https://mail.example.com/"}).BASE_URL == \
        "https://mail.example.com"


def test_computed_defaults_follow_var_dir(tmp_path):
    config = Config(environ={"VAR_DIR": str(tmp_path)})
    assert f"sqlite:///{tmp_path / 'campaigns.db'}" == config.DATABASE_URL
    assert str(tmp_path / "outbox") == config.OUTBOX_DIR


def test_a_set_variable_beats_a_computed_default(tmp_path):
    config = Config(environ={"VAR_DIR": str(tmp_path), "OUTBOX_DIR": "/srv/outbox"})
    assert config.OUTBOX_DIR == "/srv/outbox"


def test_overrides_win_over_the_environment_and_feed_computed_defaults(tmp_path):
    config = Config(environ={"SMTP_PORT": "2525"}, SMTP_PORT=587, VAR_DIR=str(tmp_path),
                    TESTING=True)
    assert config.SMTP_PORT == 587
    assert f"sqlite:///{tmp_path / 'campaigns.db'}" == config.DATABASE_URL
    assert config.as_dict()["TESTING"] is True


def test_openapi_constants_are_not_read_from_the_environment():
    assert Config(environ={"API_TITLE": "Something else"}).API_TITLE == "Campaigns API"


def test_as_dict_holds_every_setting_of_the_table():
    assert set(Config(environ={}).as_dict()) == {s.name for s in SETTINGS}


def test_a_list_default_is_not_shared_between_configs():
    first = Config(environ={})
    first.SECRET_KEY_FALLBACKS.append("leaked")
    assert Config(environ={}).SECRET_KEY_FALLBACKS == []


def test_every_setting_has_a_unique_name_and_a_meaning():
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    assert all(s.meaning.strip() for s in SETTINGS)
