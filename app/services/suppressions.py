"""A workspace's suppression list: addresses and whole domains it never mails again.

Unsubscribes and bounces add addresses (app.services.outcomes); tenants add addresses
and domains here. A value is an address when it has an @ and a domain when it has none,
lower-case with the domain in its ASCII (``xn--``) form, as leads keep their addresses:
a domain matches a lead whose address ends in ``@`` and exactly that domain.

Adding ends the workspace's open leads that match, in the same transaction: each turns
``suppressed`` (a ``lead.suppressed`` event) and its mail not yet being sent is dropped.
Deleting reopens nothing.
"""
import functools
import operator

from peewee import Tuple

from app import clock
from app.database import lock_rows, transaction
from app.errors import NotFound, ValidationFailed
from app.lifecycle import OPEN_LEAD_STATUSES, LeadStatus, MessageStatus, maybe_complete
from app.models import Lead, Message, Suppression
from app.outbox import emit, lead_data
from app.services.tenants import get_workspace

SOURCE_API = "api"
EMAIL, DOMAIN = "email", "domain"
KINDS = (EMAIL, DOMAIN)
MAX_ITEMS = 1000
# Values per query: the IN lists and LIKE alternatives stay well inside every
# database's parameter limit.
CHUNK = 200
CREATED, ALREADY_PRESENT = "created", "already_present"


def kind_of(value):
    return EMAIL if "@" in value else DOMAIN


def list_suppressions(tenant, *, workspace, kind=None, limit=20, starting_after=None):
    """The workspace's suppressions newest first, by cursor (the value of the last one
    of the previous page); and whether more follow."""
    workspace = get_workspace(tenant, workspace)
    query = Suppression.select().where(Suppression.workspace == workspace)
    if kind:
        query = query.where(Suppression.kind == kind)
    if starting_after:
        cursor = (Suppression.select(Suppression.created_at, Suppression.id)
                  .where((Suppression.workspace == workspace)
                         & (Suppression.email == starting_after.lower())).first())
        if cursor is None:
            raise ValidationFailed(details={"fields": {"starting_after": [
                "No suppression of this workspace has that value."]}})
        query = query.where(Tuple(Suppression.created_at, Suppression.id)
                            < Tuple(cursor.created_at, cursor.id))
    rows = list(query.order_by(Suppression.created_at.desc(), Suppression.id.desc())
                .limit(limit + 1))
    return rows[:limit], len(rows) > limit


def add_suppressions(tenant, *, workspace, items, now=None):
    """Add ``items`` (dicts of ``value``, normalised, ``kind`` and optional ``reason``);
    a value already on the list (or earlier in ``items``) is left as it is. Ends the
    matching open leads. Returns each item's result, in order, and the leads ended."""
    now = now or clock.now()
    workspace = get_workspace(tenant, workspace)
    with transaction():
        values = list(dict.fromkeys(item["value"] for item in items))
        present = set()
        for chunk in _chunks(values, CHUNK):
            present |= {v for (v,) in Suppression.select(Suppression.email).where(
                (Suppression.workspace == workspace) & Suppression.email.in_(chunk)).tuples()}
        results, rows, seen = [], [], set(present)
        for item in items:
            value = item["value"]
            if value in seen:
                results.append(ALREADY_PRESENT)
                continue
            seen.add(value)
            results.append(CREATED)
            rows.append({"workspace": workspace.id, "email": value, "kind": item["kind"],
                         "reason": SOURCE_API, "note": item.get("reason"),
                         "created_at": now})
        for chunk in _chunks(rows, CHUNK):
            Suppression.insert_many(chunk).on_conflict_ignore().execute()
        ended = end_matching_leads(workspace.id, [row["email"] for row in rows], now)
    return results, ended


def delete_suppression(tenant, *, workspace, value):
    """Take ``value`` off the list. Leads it ended stay ended."""
    workspace = get_workspace(tenant, workspace)
    with transaction():
        deleted = (Suppression.delete()
                   .where((Suppression.workspace == workspace) & (Suppression.email == value))
                   .execute())
    if not deleted:
        raise NotFound(f"No suppression '{value}' in this workspace.",
                       code="suppression_not_found", details={"value": value})
    return value


def _chunks(items, size):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _matching(workspace_id, values):
    """The condition on leads for ``values``: the addresses, and every address at the
    domains. One pass over the workspace's leads for the domains, none for addresses
    (the (workspace, email) index finds them)."""
    emails = [v for v in values if kind_of(v) == EMAIL]
    domains = [v for v in values if kind_of(v) == DOMAIN]
    terms = [Lead.email.in_(emails)] if emails else []
    terms += [Lead.email.endswith(f"@{domain}") for domain in domains]
    return (Lead.workspace == workspace_id) & functools.reduce(operator.or_, terms)


def end_matching_leads(workspace_id, values, now):
    """End the workspace's open leads that ``values`` (new suppressions) match; inside
    the caller's transaction. Returns how many ended."""
    ended = 0
    for chunk in _chunks(values, CHUNK):
        candidates = [lead_id for (lead_id,) in Lead.select(Lead.id).where(
            _matching(workspace_id, chunk) & Lead.status.in_(OPEN_LEAD_STATUSES)).tuples()]
        for ids in _chunks(sorted(candidates), 500):
            ended += _end(ids, now)
    return ended


def _end(lead_ids, now):
    # The leads' messages before the leads, as a send's record takes them; a claimed
    # mail not yet being sent is dropped, so the dispatcher gives it back unsent.
    claimed = (Message.lead.in_(lead_ids)) & (Message.status == MessageStatus.CLAIMED)
    lock_rows(Message.select(Message.id).where(claimed))
    Message.delete().where(claimed).execute()
    lock_rows(Lead.select(Lead.id).where(Lead.id.in_(lead_ids)))
    leads = list(Lead.select(Lead.id, Lead.campaign, Lead.workspace, Lead.email)
                 .where(Lead.id.in_(lead_ids) & Lead.status.in_(OPEN_LEAD_STATUSES))
                 .order_by(Lead.campaign, Lead.id))
    if not leads:
        return 0
    (Lead.update(status=LeadStatus.SUPPRESSED, next_send_at=None, finished_at=now)
     .where(Lead.id.in_([lead.id for lead in leads])).execute())
    for lead in leads:
        emit(lead.workspace_id, "lead.suppressed", lead_data(lead), now=now)
    # Campaigns in one order, after the leads: the order every path takes them in.
    for campaign_id in sorted({lead.campaign_id for lead in leads}):
        maybe_complete(campaign_id, now)
    return len(leads)


def end_lead(lead, now):
    """A due lead the dispatcher found suppressed by the tenant (its address or its
    domain): it ends ``suppressed``. The caller holds the lead and its campaign."""
    moved = (Lead.update(status=LeadStatus.SUPPRESSED, next_send_at=None, finished_at=now)
             .where((Lead.id == lead.id) & Lead.status.in_(OPEN_LEAD_STATUSES)).execute())
    if moved:
        emit(lead.workspace_id, "lead.suppressed", lead_data(lead), now=now)
        maybe_complete(lead.campaign_id, now)
    return bool(moved)
