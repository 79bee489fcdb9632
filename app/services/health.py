from peewee import DatabaseError, InterfaceError

from app.database import db, discard_connection


def database_ready():
    try:
        db.connect(reuse_if_open=True)
        db.execute_sql("SELECT 1").fetchone()
        return True
    except (DatabaseError, InterfaceError, ValueError):
        discard_connection()
        return False
