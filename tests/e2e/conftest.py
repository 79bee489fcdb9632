"""The deployed service's environment, shared by every module of tests/e2e."""
from tests.e2e.test_gunicorn import service_env  # noqa: F401
