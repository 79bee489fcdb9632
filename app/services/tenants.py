"""Tenants, workspaces and API keys: the operator's use cases behind the CLI."""
import re

from app import clock
from app.database import transaction
from app.errors import Conflict, NotFound, ValidationFailed
from app.models import ApiKey, Tenant, Workspace, hash_key

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")


def get_workspace(tenant, slug):
    """The tenant's workspace by slug, or NotFound (also for another tenant's)."""
    workspace = Workspace.for_tenant(tenant).where(Workspace.slug == slug).first()
    if workspace is None:
        raise NotFound(f"No workspace '{slug}'.", code="workspace_not_found",
                       details={"workspace": slug})
    return workspace


def owned(model, tenant, item_id):
    """The query for one of the tenant's ``model`` rows (with its workspace) by id."""
    return (model.select(model, Workspace).join(Workspace)
            .where((model.tenant == tenant) & (model.id == item_id)))


def workspace_page(model, workspace, *, limit, offset):
    """A page of a workspace's ``model`` rows newest first, and how many there are."""
    query = model.select().where(model.workspace == workspace)
    items = list(query.order_by(model.created_at.desc(), model.id.desc())
                 .limit(limit).offset(offset))
    for item in items:
        item.workspace = workspace
    return items, query.count()


def _check_slug(slug):
    if not SLUG.match(slug or ""):
        raise ValidationFailed(
            "A workspace slug is 1-100 lower-case letters, digits and inner hyphens.",
            details={"slug": slug})
    if Workspace.select().where(Workspace.slug == slug).exists():
        raise Conflict(f"Workspace '{slug}' already exists.", code="workspace_exists")


def _find_tenant(ref):
    tenant = Tenant.select().where((Tenant.id == ref) | (Tenant.name == ref)).first()
    if tenant is None:
        raise NotFound(f"No tenant '{ref}'.", code="tenant_not_found")
    return tenant


def create_tenant(name, *, workspace_slug, workspace_name=None):
    """A tenant, its first workspace and an API key. Returns (tenant, workspace, key, secret)."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("A tenant needs a name.")
    with transaction():
        _check_slug(workspace_slug)
        tenant = Tenant.create(name=name)
        workspace = Workspace.create(tenant=tenant, slug=workspace_slug,
                                     name=workspace_name or workspace_slug)
        key, secret = _new_key(tenant, "default")
    return tenant, workspace, key, secret


def create_workspace(tenant_ref, *, slug, name=None):
    with transaction():
        tenant = _find_tenant(tenant_ref)
        _check_slug(slug)
        return Workspace.create(tenant=tenant, slug=slug, name=name or slug)


def _new_key(tenant, name):
    secret = ApiKey.generate_secret()
    key = ApiKey.create(tenant=tenant, name=name, prefix=secret[:12],
                        key_hash=hash_key(secret))
    return key, secret


def create_key(tenant_ref, *, name="default"):
    """A new API key. The secret is returned once and never stored."""
    with transaction():
        return _new_key(_find_tenant(tenant_ref), name)


def revoke_key(key_id):
    with transaction():
        updated = (ApiKey.update(revoked_at=clock.now())
                   .where((ApiKey.id == key_id) & ApiKey.revoked_at.is_null()).execute())
        if not updated and not ApiKey.select().where(ApiKey.id == key_id).exists():
            raise NotFound(f"No API key '{key_id}'.", code="key_not_found")
    return ApiKey.get_by_id(key_id)


def list_keys(tenant_ref):
    tenant = _find_tenant(tenant_ref)
    return list(ApiKey.select().where(ApiKey.tenant == tenant).order_by(ApiKey.created_at))


def ensure_demo(*, workspace_slug, tenant_name="Demo", secret=None):
    """The demo tenant for ``make run``, created once, and its development key.

    ``secret``: the key an earlier call handed out (``make run`` keeps it under var/).
    While it still authenticates for the demo tenant it is returned again; otherwise
    (first run, revoked, another database) a new key is issued. Returns
    (tenant, workspace, secret, created, reused).
    """
    workspace = Workspace.select().where(Workspace.slug == workspace_slug).first()
    if workspace is None:
        tenant, workspace, key, secret = create_tenant(tenant_name, workspace_slug=workspace_slug)
        return tenant, workspace, secret, True, False
    tenant = workspace.tenant
    if secret and ApiKey.select().where(
            (ApiKey.tenant == tenant) & (ApiKey.key_hash == hash_key(secret))
            & ApiKey.revoked_at.is_null()).exists():
        return tenant, workspace, secret, False, True
    key, secret = create_key(tenant.id, name="make-run")
    return tenant, workspace, secret, False, False
