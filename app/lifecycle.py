"""The life of a campaign, its leads and their messages, in one place: the statuses,
which actions move a campaign and why one is refused, completion, and the campaign's
event log. Every campaign transition, every completion and every event is written here.

The campaign's ``next_send_at``, when the dispatcher next visits it, is pulled earlier
here (pull_due) by every change that makes one of its leads due; the dispatcher's
claim (app.worker.claims) sets it later. A start or a resume sets it to now, a pause
and the completion clear it.

Each change that a webhook reports (campaign.started/paused/resumed/completed,
lead.completed) is emitted here too, in the change's transaction (app.outbox).

The statuses are StrEnums: they compare equal to their values, so the database and the
JSON keep the plain strings.
"""
import enum

from peewee import fn

from app import clock
from app.database import lock_rows
from app.models import MAILBOX_ACTIVE, Campaign, CampaignEvent, Lead, Mailbox
from app.outbox import emit, emit_many, lead_data
from app.sending.schedule import next_due, step_delay


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"


class LeadStatus(enum.StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REPLIED = "replied"
    BOUNCED = "bounced"
    UNSUBSCRIBED = "unsubscribed"
    FAILED = "failed"
    # Ended by a suppression the tenant added (an address or its domain).
    SUPPRESSED = "suppressed"


class MessageStatus(enum.StrEnum):
    CLAIMED = "claimed"
    SENDING = "sending"
    SENT = "sent"
    UNCONFIRMED = "unconfirmed"
    BOUNCED = "bounced"
    FAILED = "failed"


# Leads still being mailed; every other status is an end.
OPEN_LEAD_STATUSES = (LeadStatus.PENDING, LeadStatus.IN_PROGRESS)
# Messages in these states count against the campaign's daily limit: all of them.
COUNTED_MESSAGE_STATUSES = tuple(MessageStatus)

# action -> (statuses it moves from, status it moves to)
TRANSITIONS = {
    "start": ((CampaignStatus.DRAFT,), CampaignStatus.ACTIVE),
    "pause": ((CampaignStatus.ACTIVE,), CampaignStatus.PAUSED),
    "resume": ((CampaignStatus.PAUSED,), CampaignStatus.ACTIVE),
}
ACTIONS = tuple(TRANSITIONS)
# The webhook event each action's transition emits.
ACTION_EVENTS = {"start": "campaign.started", "pause": "campaign.paused",
                 "resume": "campaign.resumed"}

# Why an action is refused in a status where it neither moves nor is a no-op.
_DRAFT, _PAUSED, _COMPLETED = (CampaignStatus.DRAFT, CampaignStatus.PAUSED,
                               CampaignStatus.COMPLETED)
REFUSALS = {
    ("start", _PAUSED): "The campaign was started already and is paused; use 'resume'.",
    ("start", _COMPLETED): "The campaign is completed; it cannot be started again.",
    ("pause", _DRAFT): "The campaign has not been started; there is nothing to pause.",
    ("pause", _COMPLETED): "The campaign is completed; there is nothing to pause.",
    ("resume", _DRAFT): "The campaign has never been started; use 'start'.",
    ("resume", _COMPLETED): "The campaign is completed; it cannot be resumed.",
}


def start_blockers(campaign):
    """What stops ``start`` besides the status: (code, sentence) pairs."""
    blockers = []
    if not campaign.sequence:
        blockers.append(("sequence_empty", "Add at least one email step to the sequence."))
    if not Lead.select().where(Lead.campaign == campaign.id).exists():
        blockers.append(("no_leads", "Add at least one lead."))
    settings = campaign.settings or {}
    if settings.get("mailboxes"):
        if not _any_active_mailbox(campaign, settings["mailboxes"]):
            blockers.append(("no_active_mailbox",
                             "None of settings.mailboxes is active: resume one or list "
                             "another."))
    elif not settings.get("from_email"):
        blockers.append(("from_email_missing", "Set settings.from_email (the sender), or "
                                               "settings.mailboxes to send from mailboxes."))
    return blockers


def _any_active_mailbox(campaign, ids):
    return Mailbox.select().where(Mailbox.id.in_(ids) & (Mailbox.status == MAILBOX_ACTIVE)
                                  & (Mailbox.workspace == campaign.workspace_id)).exists()


def action_states(campaign):
    """For each action: None when it would move the campaign, else (code, reason)."""
    states = {}
    for action, (sources, target) in TRANSITIONS.items():
        if campaign.status in sources:
            blockers = start_blockers(campaign) if action == "start" else []
            states[action] = (("start_blocked", " ".join(b[1] for b in blockers))
                              if blockers else None)
        elif campaign.status == target:
            states[action] = ("no_op", f"The campaign is already {target}; "
                              f"repeating '{action}' changes nothing.")
        else:
            states[action] = ("invalid_transition", REFUSALS[(action, campaign.status)])
    return states


def allowed_actions(campaign):
    return [a for a, state in action_states(campaign).items() if state is None]


def record_event(campaign_id, action, from_status, to_status, *, now, api_key=None):
    """The campaign's audit log: the one writer of CampaignEvent rows."""
    return CampaignEvent.create(campaign=campaign_id, action=action, from_status=from_status,
                                to_status=to_status, api_key=api_key, created_at=now)


def transition(campaign, action, *, now, api_key=None):
    """Move ``campaign`` (locked by the caller, checked allowed) by ``action``: its
    status, version and timestamps, the leads a start schedules, and the event."""
    from_status = campaign.status
    campaign.status = TRANSITIONS[action][1]
    campaign.version += 1
    campaign.updated_at = now
    if action == "start":
        campaign.launched_at = now
    # Active again: visited on the next pass, which stamps the real time. Paused: not
    # visited until resumed.
    campaign.next_send_at = now if campaign.status == CampaignStatus.ACTIVE else None
    campaign.save()
    if action == "start":
        schedule_pending(campaign, now)
    record_event(campaign.id, action, from_status, campaign.status, now=now, api_key=api_key)
    emit(campaign.workspace_id, ACTION_EVENTS[action], {"campaign_id": campaign.id}, now=now)


def pull_due(campaign_id, at):
    """A lead of the campaign is due at ``at``: the dispatcher visits the campaign by
    then. Only ever earlier, only an active campaign, and no write when its visit is
    already as early."""
    (Campaign.update(next_send_at=at)
     .where((Campaign.id == campaign_id) & (Campaign.status == CampaignStatus.ACTIVE)
            & (Campaign.next_send_at.is_null() | (Campaign.next_send_at > at))).execute())


def pull_workspace(workspace_id, at):
    """A mailbox of the workspace can send sooner (resumed, a higher limit, a shorter
    gap, a row of its day gone without a mail): its active campaigns are visited by
    ``at``; a visit that finds nothing for that mailbox costs no more than a visit.

    Called after the commit of the change, in a statement of its own: it takes many
    campaigns' rows, which inside a transaction holding another campaign's row could
    deadlock with the same call from another campaign of the workspace. A crash before
    it leaves a stamp late, not a mail lost (the campaign's own pull is in the commit)."""
    (Campaign.update(next_send_at=at)
     .where((Campaign.workspace == workspace_id) & (Campaign.status == CampaignStatus.ACTIVE)
            & (Campaign.next_send_at.is_null() | (Campaign.next_send_at > at))).execute())


def schedule_pending(campaign, now):
    """Make every lead that has not started due for step 1 (on start, and on adding
    leads to a started campaign). Returns how many were scheduled."""
    if not campaign.sequence:
        return 0
    due = now + step_delay(campaign.sequence[0])
    scheduled = (Lead.update(next_send_at=due)
                 .where((Lead.campaign == campaign.id) & (Lead.status == LeadStatus.PENDING)
                        & Lead.next_send_at.is_null()).execute())
    if scheduled:
        pull_due(campaign.id, due)
    return scheduled


def advance_lead(lead_id, step, sequence, now, *, sent=False, lead=None):
    """The lead has had ``step`` (``sent``: mailed just now): the next step is due after
    its delay, or the sequence is done and the lead completed (``lead.completed`` is
    emitted). The step is recorded whatever the lead's state; only an open lead moves
    on. True when the lead completed (the caller then asks maybe_complete, once it holds
    what it takes before the campaign's row).

    ``lead``: the Lead itself when the caller has it (its workspace, campaign and email
    name the event); without it, it is read."""
    if lead is None:
        lead = Lead.select(Lead.id, Lead.campaign, Lead.workspace, Lead.email).where(
            Lead.id == lead_id).first()
        if lead is None:
            return False  # deleted meanwhile: nothing to record
    return bool(advance_leads([(lead, step)], sequence, now, sent=sent))


def advance_leads(had, sequence, now, *, sent=False, events=None):
    """advance_lead for several leads of one campaign, ``(Lead, step)`` pairs, in a few
    statements per step whatever their number. Returns the leads that completed. Their
    ``lead.completed`` events are appended to ``events`` (a list of ``(type, data)``
    pairs the caller emits, app.outbox.emit_many) when given, else emitted here."""
    by_step = {}
    for lead, step in had:
        by_step.setdefault(step, []).append(lead)
    completed = []
    for step, leads in by_step.items():
        due = next_due(sequence, step, now)
        changes = {Lead.current_step: step, Lead.attempts: 0}
        if sent:
            changes[Lead.last_sent_at] = now
        if due is not None:
            moves = {Lead.next_send_at: due, Lead.status: LeadStatus.IN_PROGRESS}
        else:
            moves = {Lead.status: LeadStatus.COMPLETED, Lead.next_send_at: None,
                     Lead.finished_at: now}
        ids = [lead.id for lead in leads]
        moved = {lead_id for (lead_id,) in (
            Lead.update({**changes, **moves})
            .where(Lead.id.in_(ids) & Lead.status.in_(OPEN_LEAD_STATUSES))
            .returning(Lead.id).tuples().execute())}
        if len(moved) < len(ids):
            Lead.update(changes).where(Lead.id.in_([i for i in ids if i not in moved])).execute()
        if moved and due is not None:
            pull_due(leads[0].campaign_id, due)
        elif due is None:
            completed.extend(lead for lead in leads if lead.id in moved)
    done = [("lead.completed", lead_data(lead, step=lead_step))
            for lead, lead_step in had if lead in completed]
    if events is not None:
        events.extend(done)
    elif done:
        emit_many(completed[0].workspace_id, done, now=now)
    return completed


def maybe_complete(campaign_id, now=None, *, unless_open=None):
    """An active campaign whose every lead has ended becomes completed (with an event).

    The check runs under the campaign's row lock, taken first: two transactions ending
    the last two open leads would otherwise each see the other's lead still open,
    uncommitted, and neither would complete the campaign. With the lock the second
    check starts after the first commit, as a new statement, and sees its end. SQLite
    serialises writers anyway.

    ``unless_open``: a lead of the campaign that is probably still open. When it is, the
    campaign is not complete, and the check stops at that one row instead of looking
    through the campaign's leads. Its answer is the same either way; a lead of another
    campaign is no evidence and is not taken as such.
    """
    now = now or clock.now()
    lock_rows(Campaign.select(Campaign.id).where(Campaign.id == campaign_id))
    open_leads = Lead.select().where((Lead.campaign == campaign_id)
                                     & Lead.status.in_(OPEN_LEAD_STATUSES))
    any_lead = Lead.select().where(Lead.campaign == campaign_id)
    condition = ((Campaign.id == campaign_id) & (Campaign.status == CampaignStatus.ACTIVE)
                 & fn.EXISTS(any_lead) & ~fn.EXISTS(open_leads))
    if unless_open is not None:
        # First, so the one-row probe decides before the campaign-wide ones run.
        that_lead_open = Lead.select().where((Lead.id == unless_open)
                                             & (Lead.campaign == campaign_id)
                                             & Lead.status.in_(OPEN_LEAD_STATUSES))
        condition = ~fn.EXISTS(that_lead_open) & condition
    done = (Campaign.update(status=CampaignStatus.COMPLETED, completed_at=now,
                            updated_at=now, version=Campaign.version + 1, next_send_at=None)
            .where(condition).execute())
    if done:
        record_event(campaign_id, "complete", CampaignStatus.ACTIVE, CampaignStatus.COMPLETED,
                     now=now)
        # Once in a campaign's life: reading its workspace here costs nothing that counts.
        workspace_id = (Campaign.select(Campaign.workspace)
                        .where(Campaign.id == campaign_id).scalar())
        emit(workspace_id, "campaign.completed", {"campaign_id": campaign_id}, now=now)
    return bool(done)
