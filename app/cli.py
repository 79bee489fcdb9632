"""flask db / tenants / workspaces / keys commands (operator tools; secrets shown once)."""
import contextlib
import logging
import os
import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from app.config import ROOT
from app.database import connection, db
from app.errors import AppError
from app.services import tenants as tenant_service

MIGRATIONS = str(ROOT / "migrations")


def _runner():
    from playhouse.migrations import Runner
    return Runner(db.obj, directory=MIGRATIONS)


@contextlib.contextmanager
def _connected():
    """A command's database connection; an AppError inside is its message and exit 1."""
    try:
        with connection():
            yield
    except AppError as error:
        click.echo(f"error: {error.message}", err=True)
        sys.exit(1)


db_cli = AppGroup("db", help="Schema migrations.")


@db_cli.command("upgrade")
def db_upgrade():
    """Apply every pending migration (safe to run again)."""
    with connection():
        applied = _runner().up()
    for name in applied:
        click.echo(f"applied: {name}")
    if not applied:
        click.echo("database is up to date.")


@db_cli.command("status")
def db_status():
    """List migrations; exit 1 while any is pending."""
    with connection():
        rows = _runner().status()
    for row in rows:
        mark = "x" if row.applied else " "
        click.echo(f"[{mark}] {row.name}")
    if any(not row.applied for row in rows):
        sys.exit(1)


@db_cli.command("generate")
@click.argument("name")
def db_generate(name):
    """Write a migration from the difference between the models and the database."""
    from playhouse.migrations import template
    from playhouse.schema_diff import diff_models

    from app.models import MODELS
    with connection():
        runner = _runner()
        diff = diff_models(db.obj, MODELS)
        if not diff:
            click.echo("schema matches models; nothing to generate.")
            return
        click.echo(runner.create(name, body=template(diff)))


@db_cli.command("purge")
def db_purge():
    """Delete idempotency records past their 24 hours (a running dispatcher does it hourly)."""
    from app.services import idempotency
    with connection():
        removed = idempotency.purge_expired()
    click.echo(f"purged: {removed} idempotency records")


tenants_cli = AppGroup("tenants", help="Tenants (customers).")


@tenants_cli.command("create")
@click.argument("name")
@click.option("--workspace", "workspace_slug", required=True, help="Slug of its first workspace.")
def tenants_create(name, workspace_slug):
    """Create a tenant, its first workspace and an API key (printed last, once)."""
    with _connected():
        tenant, workspace, key, secret = tenant_service.create_tenant(
            name, workspace_slug=workspace_slug)
    click.echo(f"tenant: {tenant.id} ({tenant.name})")
    click.echo(f"workspace: {workspace.slug}")
    click.echo(f"key: {key.id} (shown once; store it now)")
    click.echo(secret)


@tenants_cli.command("demo")
@click.option("--workspace", "workspace_slug", default="acme-corp")
@click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where the development key is kept (default: $VAR_DIR/demo_key).")
def tenants_demo(workspace_slug, key_file):
    """Create the demo tenant if missing and print its development key, kept in a file
    so that every start prints the same one (a new one only when that one stops working)."""
    from flask import current_app
    config = current_app.config
    key_file = key_file or Path(config["VAR_DIR"]) / "demo_key"
    stored = key_file.read_text().strip() if key_file.exists() else None
    with _connected():
        tenant, workspace, secret, created, reused = tenant_service.ensure_demo(
            workspace_slug=workspace_slug, secret=stored)
    if not reused:
        _write_secret(key_file, secret)
    state = "created" if created else "exists"
    click.echo(f'Demo tenant "{tenant.name}" ({tenant.id}) {state}; workspace: {workspace.slug}')
    kept = "the same on every start" if reused or stored is None else "a new one: the old one no longer works"
    click.echo(f"API key, kept in {_shown(key_file)} ({kept}):")
    click.echo(f"  {secret}")
    if config.get("INBOUND_SECRET"):
        click.echo(f"INBOUND_SECRET (POST /api/v1/inbound/email): {config['INBOUND_SECRET']}")
    click.echo(f"BASE_URL (links in mail): {config['BASE_URL']}; "
               f"mail is written to {_shown(Path(config['OUTBOX_DIR']))}/")


def _shown(path):
    """``path`` relative to the current directory when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _write_secret(path, secret):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT


workspaces_cli = AppGroup("workspaces", help="Workspaces of a tenant.")


@workspaces_cli.command("create")
@click.argument("slug")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id or name.")
@click.option("--name", default=None)
def workspaces_create(slug, tenant_ref, name):
    """Create a workspace for a tenant."""
    with _connected():
        workspace = tenant_service.create_workspace(tenant_ref, slug=slug, name=name)
    click.echo(f"workspace: {workspace.slug} ({workspace.id})")


keys_cli = AppGroup("keys", help="API keys.")


@keys_cli.command("create")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id or name.")
@click.option("--name", default="default")
def keys_create(tenant_ref, name):
    """Issue an API key (printed last, once)."""
    with _connected():
        key, secret = tenant_service.create_key(tenant_ref, name=name)
    click.echo(f"key: {key.id} (shown once; store it now)")
    click.echo(secret)


@keys_cli.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id):
    """Revoke a key; the very next request with it is refused."""
    with _connected():
        key = tenant_service.revoke_key(key_id)
    click.echo(f"revoked: {key.id}")


@keys_cli.command("list")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id or name.")
def keys_list(tenant_ref):
    """List a tenant's keys (prefix only; secrets are never shown again)."""
    with _connected():
        keys = tenant_service.list_keys(tenant_ref)
    for key in keys:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        click.echo(f"{key.id}  {key.prefix}...  {key.name}  {state}")


mailboxes_cli = AppGroup("mailboxes", help="Tenants' sending mailboxes.")


@mailboxes_cli.command("rekey")
def mailboxes_rekey():
    """Re-encrypt every stored mailbox password and webhook signing secret with the first
    of ENCRYPTION_KEYS (webhook secrets still in the clear get encrypted)."""
    from app.services import mailboxes, webhooks
    with _connected():
        count = mailboxes.rekey_all()
        secrets = webhooks.rekey_secrets()
    click.echo(f"re-encrypted: {count} passwords")
    click.echo(f"re-encrypted: {secrets} webhook secrets")


dispatcher_cli = AppGroup("dispatcher", help="The worker: mail, webhook deliveries, IMAP polling.")


@dispatcher_cli.command("run")
@click.option("--once", is_flag=True, help="One pass over everything due now, then exit.")
@click.option("--interval", type=float, default=None,
              help="Seconds between passes (default: DISPATCH_INTERVAL).")
def dispatcher_run(once, interval):
    """Send due mail, then deliver due webhooks and poll due mailboxes: pass after pass
    (until SIGTERM/SIGINT), or once with --once."""
    import signal
    import threading

    from flask import current_app

    from app.worker import Dispatcher
    dispatcher = Dispatcher.from_config(current_app.config)
    if once:
        summary = dispatcher.run_once()
        click.echo(f"sent={summary.sent} retried={summary.retried} bounced={summary.bounced} "
                   f"failed={summary.failed} released={summary.released}")
        return

    def _stop(signum, frame):
        # From another thread: the handler runs in the main thread, which may hold the
        # stop Event's lock at that moment (waking from its wait), and setting the Event
        # here would wait on that lock forever (two signals close together: Ctrl-C on
        # make run, then its trap's TERM).
        threading.Thread(target=dispatcher.stop, daemon=True).start()
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"dispatcher running (backend={current_app.config['MAIL_BACKEND']})", err=True)
    dispatcher.run_forever(interval=interval or current_app.config["DISPATCH_INTERVAL"],
                           chores=dispatcher_chores())


def dispatcher_chores():
    """Housekeeping a running dispatcher does between passes: expired idempotency
    records go every hour (what `db purge` does), so nothing needs a cron job."""
    from app.services import idempotency

    def purge_idempotency_records():
        removed = idempotency.purge_expired()
        if removed:
            logging.getLogger("app.dispatcher").info("purged %d idempotency records",
                                                     removed)
    return [(3600.0, purge_idempotency_records)]


dev_cli = AppGroup("dev", help="Development only: servers for a laptop.")


@dev_cli.command("smtp")
@click.option("--host", default="127.0.0.1", show_default=True, help="A loopback address.")
@click.option("--port", type=int, default=2525, show_default=True)
@click.option("--user", "username", required=True, help="The one login it accepts.")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="A file holding that login's password.")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Where each received mail is written as an .eml file.")
def dev_smtp(host, port, username, password_file, directory):
    """An SMTP server on loopback for mailboxes on a laptop: AUTH PLAIN/LOGIN without TLS
    for one user, every mail written to --dir (until SIGTERM/SIGINT)."""
    import signal

    from app.mail.devsmtp import controller
    try:
        server = controller(directory, username=username, host=host, port=port,
                            password=password_file.read_text().strip())
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-command log
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # the server's thread inherits it
    server.start()
    click.echo(f"development SMTP on {host}:{port} (user {username}), mail -> "
               f"{_shown(directory)}/", err=True)
    try:
        signal.sigwait(stop)
    finally:
        server.stop()


def init_app(app):
    for group in (db_cli, tenants_cli, workspaces_cli, keys_cli, mailboxes_cli,
                  dispatcher_cli, dev_cli):
        app.cli.add_command(group)
