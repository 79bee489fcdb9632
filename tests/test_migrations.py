"""The migrations build the schema the models describe, on an empty database."""
import ast
from pathlib import Path

import pytest
from peewee import TextField
from playhouse.migrations import Runner
from playhouse.schema_diff import diff_models

from app import database
from app.config import ROOT
from app.models import MODELS, Campaign
from tests.conftest import _release, empty_database

MIGRATIONS = ROOT / "migrations"
MIGRATION_FILES = sorted(p for p in MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))


@pytest.fixture
def empty_db(tmp_path):
    """A database with no tables at all, bound as the app's database."""
    with empty_database("campaigns_migrations", tmp_path) as url:
        db = database.bind(url)
        with database.connection():
            yield db
        _release(db)


def runner(db):
    return Runner(db, directory=str(MIGRATIONS))


def missing_tables():
    """The models whose table the bound database lacks."""
    return [model.__name__ for model in MODELS if not model.table_exists()]


def test_there_are_migrations():
    assert MIGRATION_FILES
    assert MIGRATION_FILES[0].name == "0001_initial.py"


def test_migrations_are_numbered_without_gaps():
    numbers = [int(p.name[:4]) for p in MIGRATION_FILES]
    assert numbers == list(range(1, len(numbers) + 1))


@pytest.mark.parametrize("path", MIGRATION_FILES, ids=lambda p: p.name)
def test_migration_imports_only_peewee(path):
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"peewee", "playhouse"}, imported


def test_upgrade_applies_every_migration_in_order(empty_db):
    applied = runner(empty_db).up()
    assert applied == [p.stem for p in MIGRATION_FILES]


def test_migrations_build_every_model_table(empty_db):
    runner(empty_db).up()
    assert missing_tables() == []


def test_migrated_schema_matches_the_models(empty_db):
    runner(empty_db).up()
    diff = diff_models(empty_db, MODELS)
    assert not diff, f"models and migrations differ; write a migration for:\n{diff}"


def test_schema_check_reports_a_model_column_no_migration_creates(empty_db):
    run = runner(empty_db)
    run.up()
    run.migrator.migrate(run.migrator.drop_column("campaign", "goal"))

    diff = diff_models(empty_db, MODELS)

    assert [(f.model, f.name) for f in diff.add_columns] == [(Campaign, "goal")]


def test_schema_check_reports_a_column_no_model_declares(empty_db):
    run = runner(empty_db)
    run.up()
    run.migrator.migrate(run.migrator.add_column("campaign", "legacy", TextField(null=True)))

    diff = diff_models(empty_db, MODELS)

    assert diff.drop_columns == [("campaign", "legacy")]


def test_schema_check_reports_an_index_no_model_declares(empty_db):
    run = runner(empty_db)
    run.up()
    run.migrator.migrate(run.migrator.add_index("campaign", ("name",), False))

    diff = diff_models(empty_db, MODELS)

    assert [(i.table, i.columns) for i in diff.drop_indexes] == [("campaign", ("name",))]


def test_upgrade_twice_applies_nothing_the_second_time(empty_db):
    runner(empty_db).up()
    assert runner(empty_db).up() == []
    assert all(row.applied for row in runner(empty_db).status())


def test_migrations_revert_and_reapply(empty_db):
    run = runner(empty_db)
    run.up()
    while any(row.applied for row in run.status()):
        run.down()
    assert sorted(missing_tables()) == sorted(model.__name__ for model in MODELS)

    run.up()
    assert not diff_models(empty_db, MODELS)


def test_test_database_is_built_by_the_migrations(app):
    applied = runner(database.db.obj).status()
    assert [row.name for row in applied] == [p.stem for p in MIGRATION_FILES]
    assert all(row.applied for row in applied)


def test_migration_files_are_the_only_python_in_migrations():
    stray = {p.name for p in Path(MIGRATIONS).glob("*.py")} - {p.name for p in MIGRATION_FILES}
    assert stray <= {"__init__.py"}, stray
