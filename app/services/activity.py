"""A campaign's activity log: the events app.outbox.emit records about it."""
from peewee import Tuple

from app.errors import ValidationFailed
from app.models import ActivityEvent
from app.services.campaigns import get_campaign


def list_events(tenant, campaign_id, *, limit=20, starting_after=None, type=None,
                lead_id=None):
    """The campaign's events newest first, by cursor (the id of the last event of the
    previous page); and whether more follow. Each page is one seek through the
    (campaign_id, created_at, id) index, however deep."""
    campaign = get_campaign(tenant, campaign_id)
    query = ActivityEvent.select().where(ActivityEvent.campaign_id == campaign.id)
    if type:
        query = query.where(ActivityEvent.type == type)
    if lead_id:
        query = query.where(ActivityEvent.lead_id == lead_id)
    if starting_after:
        cursor = (ActivityEvent.select(ActivityEvent.created_at, ActivityEvent.id)
                  .where((ActivityEvent.campaign_id == campaign.id)
                         & (ActivityEvent.id == starting_after)).first())
        if cursor is None:
            raise ValidationFailed(details={"fields": {"starting_after": [
                f"No event '{starting_after}' in this campaign."]}})
        query = query.where(Tuple(ActivityEvent.created_at, ActivityEvent.id)
                            < Tuple(cursor.created_at, cursor.id))
    rows = list(query.order_by(ActivityEvent.created_at.desc(), ActivityEvent.id.desc())
                .limit(limit + 1))
    return rows[:limit], len(rows) > limit
