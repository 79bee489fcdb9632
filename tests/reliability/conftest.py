"""Fixtures of the end-to-end suite, shared: the service's environment (one database,
files under tmp_path) and an API key made by ``flask tenants create``."""
from tests.e2e.test_gunicorn import api_key, service_env  # noqa: F401
