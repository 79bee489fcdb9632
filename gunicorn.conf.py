"""Production defaults for `gunicorn wsgi:app`; every one can be set from the environment."""
import multiprocessing
import os

from app.secret import require_secret_key

# In the master, before any worker boots: one line and a non-zero exit, not a boot loop.
require_secret_key()

bind = os.environ.get("GUNICORN_BIND", os.environ.get("BIND", "127.0.0.1:8000"))
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "0"))
# Long enough for any URL we serve; longer ones get gunicorn's own 414.
limit_request_line = int(os.environ.get("GUNICORN_LIMIT_REQUEST_LINE", "8190"))
limit_request_fields = int(os.environ.get("GUNICORN_LIMIT_REQUEST_FIELDS", "100"))
limit_request_field_size = int(os.environ.get("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", "8190"))
accesslog = os.environ.get("GUNICORN_ACCESSLOG", None)
# Without the request line: a link in mail carries its token in the path, and an access
# log must never hold a working one. The app's own JSON log (app.access) names the route.
access_log_format = '%(h)s %(t)s "%(m)s" %(s)s %(B)s %(M)sms'

errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
proc_name = "campaigns-api"
