"""The README stays short, its links resolve, and its configuration table is the app's."""
import re

from app.config import ROOT, SETTINGS

README = (ROOT / "README.md").read_text(encoding="utf-8")


def config_rows():
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells[2].strip("`")
    return rows


def test_readme_is_at_most_12000_characters():
    assert len(README) <= 12000


def test_every_relative_link_in_the_readme_resolves():
    targets = re.findall(r"\]\(([^)#\s]+)", README)
    relative = [t for t in targets if "://" not in t and not t.startswith("mailto:")]
    assert relative
    assert [t for t in relative if not (ROOT / t).exists()] == []


def test_readme_lists_exactly_the_settings_read_from_the_environment():
    assert set(config_rows()) == {s.name for s in SETTINGS if s.env}


def test_readme_gives_each_setting_its_default():
    rows = config_rows()
    assert {s.name: rows.get(s.name) for s in SETTINGS if s.env} == \
        {s.name: s.shown_default for s in SETTINGS if s.env}


def test_every_test_the_guarantees_page_names_exists():
    page = (ROOT / "docs" / "guarantees.md").read_text(encoding="utf-8")
    named, missing = 0, []
    for cell in re.findall(r"\| ([^|]*::[^|]*) \|$", page, flags=re.M):
        path = None
        for ref in re.findall(r"`([^`]*::\w+)`", cell):
            file, _, name = ref.partition("::")
            path = file or path
            named += 1
            if f"def {name}(" not in (ROOT / path).read_text(encoding="utf-8"):
                missing.append(ref)
    assert named >= 10
    assert missing == []
