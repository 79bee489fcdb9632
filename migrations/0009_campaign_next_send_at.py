"""When each campaign is next due: the dispatcher's pass reads only the campaigns whose
time has come, through (status, next_send_at), instead of every active campaign with
a due lead. A campaign's due leads in order get an index of their own.

Active campaigns start with their earliest due lead's time; the first visit then
stamps the window and the daily limit in. Independent of 0007 and 0008: it touches
only tables of 0001 and 0002.
"""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column('campaign', 'next_send_at', DateTimeField(null=True)),
        migrator.add_index('campaign', ('status', 'next_send_at'), False),
        migrator.add_index('lead', ('campaign_id', 'next_send_at'), False),
    )
    db.execute_sql(
        "UPDATE campaign SET next_send_at = (SELECT min(lead.next_send_at) FROM lead "
        "WHERE lead.campaign_id = campaign.id AND lead.status IN ('pending', 'in_progress')) "
        "WHERE status = 'active'")


def down(migrator, db):
    migrator.migrate(
        migrator.drop_index('lead', 'lead_campaign_id_next_send_at'),
        migrator.drop_index('campaign', 'campaign_status_next_send_at'),
        migrator.drop_column('campaign', 'next_send_at'),
    )
