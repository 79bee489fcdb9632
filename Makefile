# Thin targets; the README explains each.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
FLASK   := $(VENV)/bin/flask --app wsgi
HOST    ?= 127.0.0.1
PORT    ?= 8000
# The root of every link in mail: the server make run starts, unless set.
BASE_URL ?= http://$(HOST):$(PORT)
PYTEST_ARGS ?=
# make run's development SMTP server, for mailboxes (one login, mail to var/mailbox/).
MAILBOX_PORT ?= 2525
MAILBOX_USER ?= ada@acme.test
# A random SECRET_KEY made once for this checkout (servers refuse the public default);
# a SECRET_KEY in the environment wins over it.
SECRET_FILE := var/secret_key
KEYS_FILE := var/encryption_keys
# make run's inbound route secret, made once like SECRET_KEY (the environment's wins).
INBOUND_FILE := var/inbound_secret
# The development SMTP server's password, made once like SECRET_KEY.
MAILBOX_FILE := var/mailbox_password
WITH_KEY = SECRET_KEY="$${SECRET_KEY:-$$(cat $(SECRET_FILE))}" \
	ENCRYPTION_KEYS="$${ENCRYPTION_KEYS:-$$(cat $(KEYS_FILE))}"
DEV_ENV = $(WITH_KEY) INBOUND_SECRET="$${INBOUND_SECRET:-$$(cat $(INBOUND_FILE))}" \
	BASE_URL="$(BASE_URL)"

.PHONY: install run serve worker test lint migrate migration demo keys bench clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

$(SECRET_FILE) $(INBOUND_FILE) $(MAILBOX_FILE):
	@mkdir -p $(@D)
	@umask 077 && $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(48))' > $@
	@chmod 600 $@

# The Fernet key that encrypts mailbox passwords on a laptop, made once.
$(KEYS_FILE): $(VENV)/.installed
	@mkdir -p $(@D)
	@umask 077 && $(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' > $@
	@chmod 600 $@

# A migration may build an index for longer than a request's statement timeout.
migrate: install $(SECRET_FILE) $(KEYS_FILE)
	@$(WITH_KEY) DATABASE_STATEMENT_TIMEOUT_MS=0 $(FLASK) db upgrade

migration: install $(SECRET_FILE) $(KEYS_FILE)
	@$(WITH_KEY) $(FLASK) db generate $(NAME)

# The demo tenant ("Demo", workspace acme-corp) and its development key, kept in
# var/demo_key: printed again on every start, never minted anew while it works.
demo: migrate $(INBOUND_FILE)
	@$(DEV_ENV) $(FLASK) tenants demo --workspace acme-corp
	@echo "Its keys: make keys"

# The demo tenant's API keys (prefixes only), with the laptop's SECRET_KEY.
keys: migrate
	@$(WITH_KEY) $(FLASK) keys list --tenant Demo

# Laptop mode: SQLite under var/, mail written to var/outbox/ as .eml files (mail from
# mailboxes goes to the development SMTP server, then var/mailbox/); the web server, a
# dispatcher and the SMTP server run together and stop together (Ctrl-C).
run: demo $(MAILBOX_FILE)
	@echo "Development SMTP for mailboxes: 127.0.0.1:$(MAILBOX_PORT), security none," \
	  "user $(MAILBOX_USER), password $$(cat $(MAILBOX_FILE)) (kept in $(MAILBOX_FILE))," \
	  "mail -> var/mailbox/"
	@export $(DEV_ENV) MAILBOX_ALLOW_PRIVATE=true; \
	$(FLASK) dev smtp --port $(MAILBOX_PORT) --user $(MAILBOX_USER) \
	  --password-file $(MAILBOX_FILE) --dir var/mailbox & smtp=$$!; \
	$(FLASK) dispatcher run --interval 2 & dispatcher=$$!; \
	trap 'kill $$dispatcher $$smtp 2>/dev/null; wait $$dispatcher $$smtp 2>/dev/null' EXIT INT TERM; \
	$(VENV)/bin/gunicorn wsgi:app -c gunicorn.conf.py --bind $(HOST):$(PORT) --workers 2

# A SECRET_KEY or ENCRYPTION_KEYS set in the environment wins over the laptop's files.
worker: migrate
	@$(WITH_KEY) $(FLASK) dispatcher run

serve: migrate
	@$(WITH_KEY) $(VENV)/bin/gunicorn wsgi:app -c gunicorn.conf.py

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check app tests migrations wsgi.py gunicorn.conf.py
	$(VENV)/bin/lint-imports

# Load on loopback only; needs wrk (Debian: apt-get install wrk) and, for Postgres and
# the dispatcher, a server at BENCH_POSTGRES_URL (default 127.0.0.1:5432).
bench: install
	@command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk"; exit 1; }
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var *.egg-info
