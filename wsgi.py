"""The production entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi ...``."""
from app import create_app
from app.secret import require_secret_key

require_secret_key()
app = create_app()
