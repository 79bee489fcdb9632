"""Campaign use cases: list, create, read, update, delete and the /send actions (whose
state machine is app.lifecycle's)."""
import copy

from peewee import JOIN, SQL, Tuple, fn

from app import clock, lifecycle
from app.database import Param, lock_rows, locked, prepared, transaction
from app.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from app.lifecycle import (  # noqa: F401 - the views' names for them
    ACTIONS,
    REFUSALS,
    TRANSITIONS,
    CampaignStatus,
    LeadStatus,
    action_states,
    allowed_actions,
    start_blockers,
)
from app.models import (
    ActivityEvent,
    Campaign,
    CampaignCount,
    Lead,
    Mailbox,
    Message,
    Workspace,
)
from app.services.tenants import get_workspace, owned


def _not_found(campaign_id):
    return NotFound(f"No campaign '{campaign_id}'.", code="campaign_not_found",
                    details={"id": campaign_id})


def get_campaign(tenant, campaign_id, *, for_update=False):
    """The tenant's campaign with its workspace, or NotFound (also for other tenants')."""
    query = owned(Campaign, tenant, campaign_id)
    campaign = (locked(query) if for_update else query).first()
    if campaign is None:
        raise _not_found(campaign_id)
    return campaign


# The list's columns: everything a summary shows, nothing that needs decoding.
SUMMARY_COLUMNS = (Campaign.id, Campaign.name, Campaign.status, Campaign.goal,
                   Campaign.sent_count, Campaign.opened_count, Campaign.replied_count,
                   Campaign.clicked_count, Campaign.bounced_count, Campaign.unsubscribed_count,
                   Campaign.created_at, Campaign.updated_at)


class CampaignSummary:
    """A list row: the summary's attributes without a model instance's bookkeeping.
    Its timestamps are as the database hands them back (SQLite: text)."""

    __slots__ = ("id", "name", "status", "goal", "stats", "created_at", "updated_at")

    def __init__(self, row):
        (self.id, self.name, self.status, self.goal, sent, opened, replied, clicked,
         bounced, unsubscribed, self.created_at, self.updated_at) = row[:12]
        self.stats = {"sent": sent, "opened": opened, "replied": replied, "clicked": clicked,
                      "bounced": bounced, "unsubscribed": unsubscribed}


def _workspace_page_header(tenant_id, workspace, starting_after):
    """(workspace id, status, n, cursor's created_at) rows: the workspace, its
    per-status counts and the cursor's created_at (None without one, or when the
    cursor is not a campaign of the workspace)."""
    cursor_at = (Campaign.select(Campaign.created_at).where(
        (Campaign.id == starting_after) & (Campaign.workspace == Workspace.id))
        if starting_after else SQL("NULL"))
    return list(Workspace.select(Workspace.id, CampaignCount.status, CampaignCount.n, cursor_at)
                .join(CampaignCount, JOIN.LEFT_OUTER,
                      on=(CampaignCount.workspace_id == Workspace.id))
                .where((Workspace.tenant == tenant_id) & (Workspace.slug == workspace))
                .tuples())


@prepared
def _page(*, status, cursor, limit, offset):
    """The page, newest first, with the total (of the status asked for) on every row.

    One statement: the workspace is found by (tenant, slug) in a subquery, the total is
    summed from the trigger-kept counts, and the page walks the (workspace, [status,]
    created_at, id) index; with a cursor it seeks to the cursor's (created_at, id)
    instead of skipping rows.

    The limit is in the SQL text: Postgres plans a prepared statement whose LIMIT is a
    parameter again on every run (its plan for any value assumes a tenth of the rows),
    which was half of the query's time at 1M campaigns. A page with an offset takes it
    as a parameter.
    """
    workspace_id = Workspace.select(Workspace.id).where(
        (Workspace.tenant == Param("tenant_id")) & (Workspace.slug == Param("workspace")))
    total = CampaignCount.select(fn.COALESCE(fn.SUM(CampaignCount.n), 0)).where(
        CampaignCount.workspace_id == workspace_id)
    query = Campaign.select(*SUMMARY_COLUMNS).where(Campaign.workspace == workspace_id)
    if status:
        total = total.where(CampaignCount.status == Param("status", Campaign.status))
        query = query.where(Campaign.status == Param("status", Campaign.status))
    if cursor:
        # A row-value comparison both databases turn into an index seek (an OR of
        # the two cases would scan).
        cursor_at = Campaign.select(Campaign.created_at).where(
            (Campaign.id == Param("starting_after")) & (Campaign.workspace == workspace_id))
        query = query.where(Tuple(Campaign.created_at, Campaign.id)
                            < Tuple(cursor_at, Param("starting_after")))
    query = (query.select_extend(total)
             .order_by(Campaign.created_at.desc(), Campaign.id.desc())
             .limit(SQL(str(int(limit)))))
    return query.offset(Param("offset")) if offset else query


def list_campaigns(tenant, *, workspace, status=None, limit=20, offset=0, starting_after=None):
    """A page of a workspace's campaigns, newest first: (items, total, has_more).

    One query for a page that has rows (the total rides on each row, summed from the
    per-status counts the triggers keep, so it never scans the campaigns). An empty
    page asks once more, to tell an unknown workspace (404) or cursor (422) from a
    page past the end. ``starting_after`` (a campaign id) seeks through the
    (workspace, created_at, id) index, so page 10,000 costs what page 1 does.
    """
    rows = _page({"tenant_id": tenant.id, "workspace": workspace, "status": status,
                  "starting_after": starting_after, "offset": offset},
                 status=bool(status), cursor=bool(starting_after), limit=limit + 1,
                 offset=bool(offset)).fetchall()
    if rows:
        page = [CampaignSummary(row) for row in rows]
        return page[:limit], rows[0][-1], len(page) > limit
    header = _workspace_page_header(tenant.id, workspace, starting_after)
    if not header:
        raise NotFound(f"No workspace '{workspace}'.", code="workspace_not_found",
                       details={"workspace": workspace})
    if starting_after and header[0][3] is None:
        raise ValidationFailed(details={"fields": {"starting_after": [
            f"No campaign '{starting_after}' in workspace '{workspace}'."]}})
    total = sum(n for _, st, n, _ in header if n and (status is None or st == status))
    return [], total, False


def create_campaign(tenant, *, workspace_slug, name, goal="lead_gen"):
    with transaction():
        ws = get_workspace(tenant, workspace_slug)
        now = clock.now()
        campaign = Campaign.create(tenant=tenant, workspace=ws, name=name, goal=goal,
                                   created_at=now, updated_at=now)
    campaign.workspace = ws
    return campaign


def merge_settings(current, changes):
    """Key-by-key merge; ``schedule`` is merged one level deeper the same way."""
    merged = copy.deepcopy(current)
    for key, value in changes.items():
        if key == "schedule" and isinstance(value, dict):
            merged["schedule"] = {**(merged.get("schedule") or {}), **value}
        else:
            merged[key] = value
    return merged


MAX_CAMPAIGN_MAILBOXES = 50


def _check_mailboxes(campaign, ids):
    """Every id must be a mailbox of the campaign's workspace. Not being one reads the
    same whether it is another workspace's, another tenant's or nobody's."""
    if not ids:
        return
    found = {mailbox_id for (mailbox_id,) in Mailbox.select(Mailbox.id).where(
        Mailbox.id.in_(ids) & (Mailbox.workspace == campaign.workspace_id)).tuples()}
    unknown = [mailbox_id for mailbox_id in ids if mailbox_id not in found]
    if unknown:
        raise ValidationFailed(details={"fields": {"settings": {"mailboxes": [
            f"No mailbox '{mailbox_id}' in this workspace." for mailbox_id in unknown]}}})


def _check_sender(campaign, settings):
    """A started campaign keeps a sender: mail due later would otherwise have none."""
    if campaign.status in (CampaignStatus.ACTIVE, CampaignStatus.PAUSED) and not (
            settings.get("mailboxes") or settings.get("from_email")):
        raise Conflict("A started campaign needs a sender: keep settings.from_email or at "
                       "least one of settings.mailboxes.", code="sender_missing",
                       details={"status": campaign.status})


def _check_schedule(schedule):
    if schedule["start"] >= schedule["end"]:
        raise ValidationFailed(details={"fields": {"settings": {"schedule": {
            "end": ["The schedule must end after it starts (same day, local time)."]}}}})


def update_campaign(tenant, campaign_id, *, changes, expected_version=None):
    """Apply a PATCH. Everything is checked before anything is written, and a PATCH
    whose result equals the stored campaign writes nothing (the version stays)."""
    with transaction():
        campaign = get_campaign(tenant, campaign_id, for_update=True)
        _check_version(campaign, expected_version)
        if campaign.status == CampaignStatus.COMPLETED:
            raise Conflict("A completed campaign cannot be changed.",
                           code="campaign_completed", details={"status": campaign.status})
        if "sequence" in changes and campaign.status not in (CampaignStatus.DRAFT,
                                                             CampaignStatus.PAUSED):
            raise Conflict(
                "The sequence can only change while the campaign is a draft or paused; "
                "pause it first.", code="campaign_active",
                details={"status": campaign.status, "allowed_actions": ["pause"]})
        merged = {field: changes[field] for field in ("name", "goal", "sequence")
                  if field in changes}
        if "settings" in changes:
            merged["settings"] = merge_settings(campaign.settings, changes["settings"])
            _check_schedule(merged["settings"]["schedule"])
            _check_mailboxes(campaign, changes["settings"].get("mailboxes"))
            _check_sender(campaign, merged["settings"])
        merged = {field: value for field, value in merged.items()
                  if value != getattr(campaign, field)}
        if not merged:
            # Nothing differs from the stored row: no write, the same version and ETag.
            return campaign
        for field, value in merged.items():
            setattr(campaign, field, value)
        campaign.version += 1
        campaign.updated_at = clock.now()
        if "settings" in merged and campaign.status == CampaignStatus.ACTIVE:
            # Its window, day or limit may open sooner: the next pass stamps it anew.
            campaign.next_send_at = campaign.updated_at
        campaign.save()
    return campaign


def _check_version(campaign, expected_version):
    """``expected_version``: None (no precondition) or the versions the client accepts."""
    if expected_version is not None and campaign.version not in expected_version:
        raise PreconditionFailed(
            "The campaign has changed since you read it; fetch it again and retry.",
            details={"current_version": campaign.version})


def delete_campaign(tenant, campaign_id, *, expected_version=None):
    with transaction():
        campaign = get_campaign(tenant, campaign_id)
        _check_deletable(campaign, expected_version)
        # Its messages, its leads, then the campaign: the order in which a send's record,
        # an open or a reply takes them. Opens keep arriving after a pause; holding the
        # campaign first, the deletion's cascade would wait for a lead whose open waits
        # for the campaign. Checked again once the campaign is held (on SQLite, which
        # holds the write lock since BEGIN, the second read finds the same).
        lock_rows(Message.select(Message.id).where(Message.campaign == campaign.id))
        lock_rows(Lead.select(Lead.id).where(Lead.campaign == campaign.id))
        campaign = get_campaign(tenant, campaign_id, for_update=True)
        _check_deletable(campaign, expected_version)
        ActivityEvent.delete().where(ActivityEvent.campaign_id == campaign.id).execute()
        campaign.delete_instance(recursive=True)
    return campaign


def _check_deletable(campaign, expected_version):
    _check_version(campaign, expected_version)
    if campaign.status == CampaignStatus.ACTIVE:
        raise Conflict("An active campaign cannot be deleted; pause it first.",
                       code="campaign_active",
                       details={"status": campaign.status, "allowed_actions": ["pause"]})


def apply_action(tenant, campaign_id, *, action, api_key=None, expected_version=None):
    """Move the campaign by ``action``. Returns (campaign, changed).

    Atomic: the row is locked (Postgres) or the write lock held (SQLite) from the read
    to the event insert, so two concurrent starts make one transition and one event.
    """
    sources, target = TRANSITIONS[action]
    with transaction():
        if action == "start":
            # The leads a start schedules (lifecycle.schedule_pending) before the
            # campaign, the order in which an unsubscribe (through another campaign's
            # link) ends such a lead and then counts it on this campaign. A start of a
            # campaign already active finds none: its pending leads are scheduled.
            ours = Campaign.select(Campaign.id).where(
                (Campaign.id == campaign_id) & (Campaign.tenant == tenant))
            lock_rows(Lead.select(Lead.id).where(
                (Lead.campaign == ours) & (Lead.status == LeadStatus.PENDING)
                & Lead.next_send_at.is_null()))
        campaign = get_campaign(tenant, campaign_id, for_update=True)
        _check_version(campaign, expected_version)
        if campaign.status == target:
            return campaign, False
        if campaign.status not in sources:
            raise Conflict(
                f"Cannot {action} a campaign that is {campaign.status}. "
                + REFUSALS[(action, campaign.status)],
                code="invalid_transition",
                details={"status": campaign.status, "action": action,
                         "allowed_actions": allowed_actions(campaign)})
        if action == "start":
            blockers = start_blockers(campaign)
            if blockers:
                raise Conflict(
                    "The campaign cannot start yet: " + " ".join(b[1] for b in blockers),
                    code="start_blocked",
                    details={"status": campaign.status,
                             "missing": [b[0] for b in blockers]})
        now = clock.now()
        lifecycle.transition(campaign, action, now=now, api_key=api_key)
        if action == "resume" and lifecycle.maybe_complete(campaign.id, now):
            # Every lead ended while it was paused: there is nothing left to send.
            campaign = get_campaign(tenant, campaign_id)
    return campaign, True

